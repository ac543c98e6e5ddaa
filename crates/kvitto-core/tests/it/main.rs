mod external;
mod props;
mod vectors;
fn main() {}
