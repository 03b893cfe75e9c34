//! Property tests: the loader never panics, whatever the bytes. Bounded case counts keep this
//! within seconds in CI; raise `PROPTEST_CASES` locally for a longer run.

use proptest::prelude::*;
use rackpipe_model::load_and_validate;

const SMALL: &str = include_str!("fixtures/small.yaml");

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// One edit of the text: delete, insert or replace a run of characters.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            Edit::Insert(at, s) => {
                let at = (at % len).min(chars.len());
                chars.splice(at..at, s.chars());
            }
            Edit::Replace(at, c) => {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = *c;
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![
                Just("- ".to_owned()),
                Just(": ".to_owned()),
                Just("\n".to_owned()),
                Just("  ".to_owned()),
                Just("&a ".to_owned()),
                Just("*a".to_owned()),
                Just("[".to_owned()),
                Just("{".to_owned()),
                Just("\"".to_owned()),
                Just("!!binary ".to_owned()),
                Just("<<: ".to_owned()),
                "[a-z0-9:./-]{1,8}",
            ]
        )
            .prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Replace(a, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = load_and_validate("fuzz", &bytes);
    }

    #[test]
    fn mutated_site_never_panics(edits in proptest::collection::vec(edit(), 1..6)) {
        let text = apply(SMALL, &edits);
        match load_and_validate("fuzz.yaml", text.as_bytes()) {
            Ok(_) => {}
            Err(err) => {
                // Every failure is one line of text.
                let message = err.to_string();
                prop_assert!(!message.contains('\n'), "multi-line error: {message}");
            }
        }
    }
}
