//! `ros-render`: render the MikroTik router's configuration from the site, plan and apply it over the REST API.
//!
//! A thin binary: the shared driver runs [`rackpipe_ros_render::tool::RosRender`] (the flags, the
//! `Tool` impl and the tool's own verbs); `rackpipe-ros-render` does the work.

use std::process::ExitCode;

fn main() -> ExitCode {
    rackpipe_cli::driver::run::<rackpipe_ros_render::tool::RosRender>()
}
