//! Every export in `../shared/corpus/routeros/` parses and round-trips; random bytes and
//! mutations of corpus text never panic; random models survive print → parse.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;

use proptest::prelude::*;
use rackpipe_routeros::config::{Command, Config, Header, Menu, Props, Selector, Verb};
use rackpipe_routeros::export::{parse, parse_bytes, parse_named, print_standard, print_terse};

fn corpus_files() -> Option<Vec<(String, String)>> {
    let dir: PathBuf = rackpipe_testkit::shared_dir()?.join("corpus/routeros");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rsc"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, text)
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 9,
        "expected the 9 corpus exports in {}",
        dir.display()
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
    proptest::collection::vec(("[a-z][a-z0-9-]{0,10}", value_strategy()), 0..5)
        .prop_map(Props::from_pairs)
}

fn command_strategy() -> impl Strategy<Value = Command> {
    let selector = prop_oneof![
        Just(None),
        props_strategy().prop_map(|p| Some(Selector::Find(p))),
        "[a-z0-9*][a-z0-9 -]{0,8}".prop_map(|s| Some(Selector::Item(s))),
    ];
    let flags = proptest::collection::vec("[a-z][a-z0-9-]{0,8}", 0..3);
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn random_text_never_panics(text in "[/a-z =\"\\\\\\[\\]#!.*\\r\\n\\t0-9A-F$?_-]{0,200}") {
        if let Ok(config) = parse(&text) {
            // Whatever parses must round-trip.
            prop_assert_eq!(parse(&print_terse(&config)).unwrap(), config);
        }
    }

    #[test]
    fn random_models_round_trip(config in config_strategy()) {
        let terse = print_terse(&config);
        prop_assert_eq!(&parse(&terse).map_err(|e| format!("{e}\n{terse}")).unwrap(), &config);
        prop_assert_eq!(parse(&print_standard(&config)).unwrap(), config);
    }
}

#[test]
fn mutated_corpus_never_panics() {
    let Some(files) = corpus_files() else { return };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..files.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    );
    runner
        .run(&strategy, |(file, edits)| {
            let mut bytes = files[file].1.as_bytes().to_vec();
            for (index, byte, op) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = index.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(
                        i,
                        *b"\\\"[]\n =#".get(usize::from(byte) % 9).unwrap_or(&byte),
                    ),
                }
            }
            if let Ok(config) = parse_bytes(&bytes) {
                prop_assert_eq!(parse(&print_terse(&config)).unwrap(), config);
            }
            Ok(())
        })
        .unwrap();
}
