//! RouterOS configuration as data, shared by `ros-render` and the REST simulator.
//!
//! - [`config`]: the model: menus → commands → ordered string properties ([`Config`]).
//! - [`export`]: the `/export` / `/export terse` parser (v6 and v7) and printers.
//!
//! ```
//! let config = rackpipe_routeros::export::parse(
//!     "/interface ethernet\nset [ find default-name=ether1 ] name=wan\n",
//! )?;
//! let text = rackpipe_routeros::export::print_terse(&config);
//! assert_eq!(text, "/interface ethernet set [ find default-name=ether1 ] name=wan\n");
//! assert_eq!(rackpipe_routeros::export::parse(&text)?, config);
//! # Ok::<(), rackpipe_routeros::export::ParseError>(())
//! ```

pub mod config;
pub mod export;
pub mod values;

pub use config::{Command, Config, Header, Menu, Props, Selector, Verb};
pub use export::{ParseError, ParseErrorKind, parse, print_standard, print_terse};
