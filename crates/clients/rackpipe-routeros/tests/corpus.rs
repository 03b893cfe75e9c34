//! Every export in `../shared/corpus/routeros/` parses and round-trips; random bytes and
//! mutations of corpus text never panic, and whatever of them parses round-trips; random
//! models survive print → parse.
//!
//! The property tests are replayable: each prints its seed (`PROPTEST_RNG_SEED` when set, as
//! `.ci/run` does, else a fresh one), failing cases are saved to
//! `proptest-regressions/corpus.txt` (committed; replayed first on every run), and a failing
//! corpus mutation is printed as file, offset and byte.
#![allow(clippy::print_stderr)]

use std::fmt;

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed, TestRunner};
use rackpipe_routeros::config::{Command, Config, Header, Menu, Props, Selector, Verb};
use rackpipe_routeros::export::{parse, parse_bytes, parse_named, print_standard, print_terse};

fn corpus_files() -> Option<Vec<(String, String)>> {
    let files = rackpipe_testkit::routeros_corpus()?;
    assert!(
        files.len() >= 9,
        "expected the 9 corpus exports in ../shared/corpus/routeros, found {}",
        files.len()
    );
    Some(files)
}

#[test]
fn corpus_parses_and_round_trips() {
    let Some(files) = corpus_files() else { return };
    for (name, text) in &files {
        let config = parse_named(name, text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            config.command_count() > 10,
            "{name}: only {} commands",
            config.command_count()
        );
        assert!(
            config.header.routeros_version.is_some(),
            "{name}: no RouterOS version in header"
        );
        let terse = print_terse(&config);
        let again =
            parse_named(&format!("{name} (terse)"), &terse).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, config, "{name}: parse → print_terse → parse differs");
        assert_eq!(print_terse(&again), terse, "{name}: printing is not stable");
        let standard = print_standard(&config);
        assert_eq!(
            parse(&standard).unwrap(),
            config,
            "{name}: standard round trip differs"
        );
        // JSON round trip for other tools.
        let json = serde_json::to_string(&config).unwrap();
        let from_json: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json, config, "{name}: JSON round trip differs");
    }
}

#[test]
fn corpus_details() {
    let Some(files) = corpus_files() else { return };
    let get = |n: &str| {
        parse(
            &files
                .iter()
                .find(|(name, _)| name.starts_with(n))
                .unwrap()
                .1,
        )
        .unwrap()
    };

    // Terse, CRLF, multi-line script source with \r\ + \n continuations.
    let foxden = get("foxden");
    assert_eq!(foxden.header.routeros_version.as_deref(), Some("7.18"));
    let script = foxden
        .commands("/system/script")
        .find(|c| c.props.get("name") == Some("local-init-onboot"))
        .unwrap();
    let source = script.props.get("source").unwrap();
    assert!(
        source.starts_with(":global VRRPPriorityOnline 50\r\n:global VRRPPriorityOffline 10\r\n"),
        "{source:?}"
    );
    assert!(source.contains(":global DynDNSHost \"router.foxden.network\""));
    assert!(
        foxden
            .commands("/interface/6to4")
            .any(|c| c.props.get("!keepalive") == Some(""))
    );
    let eth = foxden.commands("/interface/ethernet").next().unwrap();
    assert_eq!(
        eth.selector,
        Some(Selector::find("default-name", "sfp-sfpplus7"))
    );
    assert_eq!(eth.line, 10);

    // Standard, 80-column wrap inside a quoted list broken mid-token.
    let m0 = get("m0rtymer");
    let vlans: Vec<&Command> = m0.commands("/interface/bridge/vlan").collect();
    assert!(!vlans.is_empty());
    for v in &vlans {
        let tagged = v.props.get("tagged").unwrap_or("");
        assert!(
            !tagged.contains(' ') && !tagged.contains('\\'),
            "{tagged:?}"
        );
    }

    // Wifi dotted names and names with spaces.
    let hap = get("martinvium");
    let wifi: Vec<&Command> = hap.commands("/interface/wifi").collect();
    assert!(
        wifi.iter()
            .any(|c| c.props.get("name") == Some("wifi1 (Bullet Proof)"))
    );
    assert!(wifi.iter().any(|c| c.props.contains("configuration.ssid")));

    // Internal-id selector, missing final newline, `set 0`.
    let fig = get("micaelaman");
    assert!(
        fig.menus
            .iter()
            .flat_map(|m| &m.commands)
            .any(|c| c.selector.as_ref().is_some_and(Selector::is_id))
    );
    let memhamwan = get("memhamwan");
    assert_eq!(memhamwan.header.routeros_version.as_deref(), Some("6.48.3"));
    assert!(memhamwan.commands("/interface/ethernet").count() >= 20);
    let bosch = get("boschinimarco");
    assert!(
        bosch
            .commands("/port")
            .any(|c| c.selector == Some(Selector::Item("0".into())))
    );
    let identity = bosch.commands("/system/identity").next().unwrap();
    assert_eq!(
        (identity.verb, identity.selector.as_ref()),
        (Verb::Set, None)
    );
    assert_eq!(identity.props.get("name"), Some("M1"));
}

#[test]
fn unknown_menus_are_reported_with_a_line() {
    let Some(files) = corpus_files() else { return };
    let text = &files
        .iter()
        .find(|(n, _)| n.starts_with("simsrw73"))
        .unwrap()
        .1;
    let config = parse(text).unwrap();
    let (path, line) = config.first_unknown_menu(&["/interface/bridge"]).unwrap();
    assert_eq!((path, line), ("/caps-man/channel", 7));
    let error = rackpipe_routeros::export::ParseError::unknown_menu("rb5009.rsc", path, line);
    assert_eq!(
        error.to_string(),
        "rb5009.rsc:7:1: unknown menu /caps-man/channel"
    );
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9,./*-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
        "[ -~\\n\\r\\t]{0,20}",
    ]
}

fn props_strategy() -> impl Strategy<Value = Props> {
    // Names as `is_property_name` takes them (`basic-rates-a/g` and the other printable ASCII).
    proptest::collection::vec(
        ("[a-z][a-z0-9/+*%,@'<>|&~^_.-]{0,10}", value_strategy()),
        0..5,
    )
    .prop_map(Props::from_pairs)
}

fn command_strategy() -> impl Strategy<Value = Command> {
    let selector = prop_oneof![
        Just(None),
        props_strategy().prop_map(|p| Some(Selector::Find(p))),
        "[a-z0-9*][a-z0-9 -]{0,8}".prop_map(|s| Some(Selector::Item(s))),
    ];
    let flags = proptest::collection::vec("[a-z][a-z0-9/_-]{0,8}", 0..3);
    (
        0..Verb::ALL.len(),
        selector,
        props_strategy(),
        any::<bool>(),
        flags,
    )
        .prop_map(|(v, selector, mut props, unset, mut flags)| {
            let verb = Verb::ALL[v];
            if unset {
                props.insert("!unset-me", "");
            }
            let selector = if verb == Verb::Add { None } else { selector };
            // `set flag` would read back as a selector: flags need `add` or a selector.
            if verb != Verb::Add && selector.is_none() {
                flags.clear();
            }
            Command {
                verb,
                selector,
                props,
                flags,
                line: 0,
            }
        })
}

fn config_strategy() -> impl Strategy<Value = Config> {
    let menu = (
        "[a-z][a-z0-9-]{0,6}(/[a-z][a-z0-9-]{0,6}){0,2}",
        proptest::collection::vec(command_strategy(), 1..4),
    )
        .prop_map(|(path, commands)| Menu {
            path: format!("/{path}"),
            commands,
        });
    (
        proptest::option::of("[0-9]\\.[0-9]{1,2}"),
        proptest::collection::vec(menu, 0..5),
    )
        .prop_map(|(version, menus)| {
            let mut config = Config {
                header: Header {
                    routeros_version: version,
                    model: None,
                },
                menus: Vec::new(),
            };
            for menu in menus {
                for command in menu.commands {
                    config.push(&menu.path, command);
                }
            }
            config
        })
}

/// Where failing cases are saved (one file for this test file, committed).
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/corpus.txt"
);

/// The proptest configuration of this file: `cases` cases from a fixed seed, printed so that a
/// failure can be replayed. The seed is `PROPTEST_RNG_SEED` when set (CI sets and prints
/// one), else a fresh random one.
fn seeded(cases: u32) -> ProptestConfig {
    let seed = match std::env::var("PROPTEST_RNG_SEED") {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("PROPTEST_RNG_SEED={text:?} is not a number (u64)")),
        Err(_) => {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
        }
    };
    eprintln!(
        "proptest seed {seed}: replay with PROPTEST_RNG_SEED={seed} cargo nextest run -p rackpipe-routeros -E 'binary(corpus)'"
    );
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Whatever parses must print back to the same model (terse and standard layouts).
fn assert_round_trip(config: &Config) -> Result<(), TestCaseError> {
    type Printer = fn(&Config) -> String;
    let printers: [(&str, Printer); 2] = [("terse", print_terse), ("standard", print_standard)];
    for (layout, print) in printers {
        let text = print(config);
        let again = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(
            &again,
            config,
            "parse → print_{} → parse differs:\n{}",
            layout,
            text
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(seeded(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(config) = parse_bytes(&bytes) {
            assert_round_trip(&config)?;
        }
    }

    #[test]
    fn random_text_never_panics(text in "[/a-z =\"\\\\\\[\\]#!.*\\r\\n\\t0-9A-F$?_;:\\x00-]{0,200}") {
        if let Ok(config) = parse(&text) {
            assert_round_trip(&config)?;
        }
    }

    #[test]
    fn random_models_round_trip(config in config_strategy()) {
        let terse = print_terse(&config);
        prop_assert_eq!(&parse(&terse).map_err(|e| format!("{e}\n{terse}")).unwrap(), &config);
        prop_assert_eq!(parse(&print_standard(&config)).unwrap(), config);
    }
}

/// One edit of a corpus mutation, as applied (offsets into the bytes as they were then).
#[derive(Debug, Clone, Copy)]
enum Edit {
    /// The byte at `offset` (`was`) replaced by `byte`.
    Replace { offset: usize, was: u8, byte: u8 },
    /// The byte at `offset` (`was`) removed.
    Remove { offset: usize, was: u8 },
    /// `byte` inserted before `offset`.
    Insert { offset: usize, byte: u8 },
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Edit::Replace { offset, was, byte } => {
                write!(
                    f,
                    "replace byte {was:#04x} at offset {offset} by {byte:#04x}"
                )
            }
            Edit::Remove { offset, was } => write!(f, "remove byte {was:#04x} at offset {offset}"),
            Edit::Insert { offset, byte } => {
                write!(f, "insert byte {byte:#04x} at offset {offset}")
            }
        }
    }
}

/// Applies the generated edits to `text`; returns the bytes and the edits as applied.
fn mutate(text: &[u8], edits: &[(prop::sample::Index, u8, u8)]) -> (Vec<u8>, Vec<Edit>) {
    let mut bytes = text.to_vec();
    let mut applied = Vec::new();
    for &(index, byte, op) in edits {
        if bytes.is_empty() {
            break;
        }
        let offset = index.index(bytes.len());
        applied.push(apply(&mut bytes, offset, byte, op));
    }
    (bytes, applied)
}

/// Applies one edit: replace (`op` 0), remove (1) or insert a syntax byte (2).
fn apply(bytes: &mut Vec<u8>, offset: usize, byte: u8, op: u8) -> Edit {
    match op {
        0 => {
            let was = std::mem::replace(&mut bytes[offset], byte);
            Edit::Replace { offset, was, byte }
        }
        1 => Edit::Remove {
            offset,
            was: bytes.remove(offset),
        },
        _ => {
            let byte = *b"\\\"[]\n =#".get(usize::from(byte) % 9).unwrap_or(&byte);
            bytes.insert(offset, byte);
            Edit::Insert { offset, byte }
        }
    }
}

/// Checks one mutated corpus file: no panic; if it parses, it round-trips. A failure names the
/// file and every edit.
fn check_mutation(name: &str, bytes: &[u8], edits: &[Edit]) -> Result<(), TestCaseError> {
    let Ok(config) = parse_bytes(bytes) else {
        return Ok(());
    };
    assert_round_trip(&config).map_err(|e| {
        let edits: Vec<String> = edits.iter().map(Edit::to_string).collect();
        TestCaseError::fail(format!(
            "{name} with the mutation [{}]: {e}",
            edits.join("; ")
        ))
    })
}

#[test]
fn nul_in_a_corpus_header_round_trips() {
    // The case CI found (mutated_corpus_never_panics): one byte of a corpus export's header
    // replaced by NUL (`# ... by RouterOS 7.\02.3`) parsed, but the header kept the NUL and
    // printed it as a space (a `#` line has no escapes), so the version read back as `7.`.
    // Every header byte of every export, replaced by NUL and other control bytes; the text is
    // cut after the header and a few commands (the rest plays no part, and parsing it 8,000
    // times would take a minute).
    let Some(files) = corpus_files() else { return };
    for (name, text) in &files {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let header_lines = lines.iter().take_while(|l| l.starts_with('#')).count();
        let header: usize = lines[..header_lines].iter().map(|l| l.len()).sum();
        let head: String = lines.iter().take(header_lines + 6).copied().collect();
        for offset in 0..header {
            for byte in [0x00, 0x01, 0x09, 0x0d, 0x1b, 0x7f] {
                let mut bytes = head.as_bytes().to_vec();
                let edit = apply(&mut bytes, offset, byte, 0);
                if let Err(e) = check_mutation(name, &bytes, &[edit]) {
                    panic!("{e}");
                }
            }
        }
    }
}

#[test]
fn mutated_corpus_never_panics() {
    let Some(files) = corpus_files() else { return };
    let mut runner = TestRunner::new(ProptestConfig {
        source_file: Some(file!()),
        ..seeded(300)
    });
    let strategy = (
        0..files.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    );
    let result = runner.run(&strategy, |(file, edits)| {
        let (name, text) = &files[file];
        let (bytes, applied) = mutate(text.as_bytes(), &edits);
        check_mutation(name, &bytes, &applied)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
