//! `ros-render` (being written).
fn main() {}
