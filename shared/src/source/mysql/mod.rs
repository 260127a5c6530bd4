//! The MySQL / MariaDB source: connect, line every reader up on one instant (see
//! [`Consistency`]), discover tables from `information_schema`, and read key ranges with
//! prepared statements (the binary protocol), row by row into Arrow builders. The URL with
//! its TLS and timeouts is in `url`, the session and its readers in `session`.

mod bounds;
mod catalog;
mod profile;
mod reader;
mod rowkey;
mod session;
pub mod sql;
pub mod typemap;
mod url;

pub use reader::RowReader;
pub use session::{Consistency, MyReaders, MySession};
pub use url::{MySslMode, MyUrl};
