//! The PostgreSQL source: connect, hold one snapshot for the whole export, discover tables,
//! find key bounds, and read key ranges through binary COPY. The URL with its TLS and
//! timeouts is in `url`, the coordinating session in `session`.

mod catalog;
mod decode;
mod numeric;
mod profile;
mod reader;
mod session;
pub mod sql;
mod time_text;
pub mod typemap;
mod url;

pub use reader::PieceReader;
pub use session::Snapshot;
pub use url::{PgSslMode, PgUrl};
