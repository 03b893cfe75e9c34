//! Where `validate` spends its time, phase by phase, in one process (the bench's whole-process
//! number, `benches/validate.sh`, is the one that counts; this explains it).
//!
//!     cargo run --release -q -p rackpipe-model --example validate_phases -- examples/rachuna-net/site.yaml
#![allow(clippy::print_stdout)]

use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/sites/minimal.yaml".to_owned());
    let bytes = std::fs::read(&path).expect("readable site");
    let t = Instant::now();
    let parsed = rackpipe_model::load::parse(&path, &bytes).expect("parses");
    let parse = t.elapsed();
    let t = Instant::now();
    let schema = rackpipe_model::schema::site_schema();
    let generate = t.elapsed();
    let t = Instant::now();
    let text = serde_json::to_string(&schema).expect("JSON");
    let _: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let reparse = t.elapsed();
    // What `validate` does instead of generating: parse the committed copy built into it.
    let t = Instant::now();
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../../../schemas/site.schema.json")).expect("JSON");
    let committed_parse = t.elapsed();
    println!(
        "site schema: generated {generate:?}, committed text parsed {committed_parse:?}, same: {}",
        committed == schema
    );
    let t = Instant::now();
    let meta_ok = jsonschema::meta::is_valid(&schema);
    let meta = t.elapsed();
    let t = Instant::now();
    let meta_ok2 = jsonschema::meta::is_valid(&schema);
    let meta2 = t.elapsed();
    println!("meta-validation {meta:?} then {meta2:?} {meta_ok} {meta_ok2}");
    let t = Instant::now();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("compiles");
    let build = t.elapsed();
    let t = Instant::now();
    let v2 = jsonschema::options()
        .should_validate_formats(true)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&schema)
        .expect("compiles");
    let build_regex = t.elapsed();
    let t = Instant::now();
    let ok = v.is_valid(&parsed.value) && v2.is_valid(&parsed.value);
    let check = t.elapsed();
    println!(
        "generate {generate:?}, JSON text->value {reparse:?}, build {build:?}, build with regex engine {build_regex:?}, is_valid x2 {check:?} {ok}"
    );
    // The compile options tried for issue 20 item 6, each the median of 15 builds (the first
    // build of a process also compiles the meta-schema; these come after it).
    let bare = rackpipe_model::schema::without_annotations(&committed);
    let median = |build: &dyn Fn() -> jsonschema::Validator| {
        let mut times: Vec<_> = (0..15)
            .map(|_| {
                let t = Instant::now();
                let v = build();
                let e = t.elapsed();
                assert!(v.is_valid(&parsed.value));
                e
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let opts = || jsonschema::options().should_validate_formats(true);
    println!(
        "compile medians: whole schema {:?}, without annotations {:?}, without annotations + regex engine {:?}, without annotations + no formats {:?}",
        median(&|| opts().build(&committed).expect("compiles")),
        median(&|| opts().build(&bare).expect("compiles")),
        median(&|| opts()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&bare)
            .expect("compiles")),
        median(&|| jsonschema::options()
            .should_validate_formats(false)
            .build(&bare)
            .expect("compiles")),
    );
    let t = Instant::now();
    let first = rackpipe_model::schema::check(&parsed.value);
    let schema_first = t.elapsed();
    let t = Instant::now();
    let _ = rackpipe_model::schema::check(&parsed.value);
    let schema_again = t.elapsed();
    let t = Instant::now();
    let parsed = rackpipe_model::load::parse(&path, &bytes).expect("parses");
    let parse_again = t.elapsed();
    let t = Instant::now();
    let site: rackpipe_model::Site = serde_json::from_value(parsed.value.clone()).expect("typed");
    let typed = t.elapsed();
    let t = Instant::now();
    let findings = rackpipe_model::validate::validate(&site, &parsed.value);
    let checks = t.elapsed();
    let t = Instant::now();
    let loaded = rackpipe_model::load::load_and_validate(&path, &bytes);
    let whole = t.elapsed();
    println!(
        "parse again {parse_again:?}, deserialize {typed:?}, semantic checks {checks:?} ({} findings)",
        findings.len()
    );
    println!(
        "parse {parse:?}, schema compile+check {schema_first:?} ({} errors), schema check alone {schema_again:?}, load_and_validate (compiled) {whole:?}, ok: {}",
        first.len(),
        loaded.is_ok()
    );
}
