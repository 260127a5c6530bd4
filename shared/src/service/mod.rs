//! The serverless pipeline's core: what the state machine carries between steps ([`job`]) and
//! the decisions its functions make, all without AWS. The functions in `functions/` only
//! parse their event, call in here (and the AWS SDK where a step is an AWS call), and return.

pub mod job;
