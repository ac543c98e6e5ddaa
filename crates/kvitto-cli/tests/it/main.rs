//! Integration tests of the `kvitto` binary: the shared vectors, and the
//! command's own behaviour (inputs, framing, output contract, exit codes).

mod commands;
mod hardening;
mod support;
mod vectors;
mod verify;
