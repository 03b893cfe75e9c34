//! The simulator's API shapes, checked with a plain HTTP client.

use std::time::Duration;

use rackpipe_dsm_sim::{DsmSim, SimConfig};
use serde_json::{Value, json};

async fn start(latency_ms: u64) -> DsmSim {
    let config = SimConfig {
        users: [("admin".to_owned(), "pw".to_owned())].into(),
        shares: [(
            "DATA".to_owned(),
            vec![json!({"client": "*", "privilege": "ro", "root_squash": "guest"})],
        )]
        .into(),
        save_latency: Duration::from_millis(latency_ms),
    };
    DsmSim::start(config).await.expect("start")
}

async fn post(sim: &DsmSim, form: &[(&str, &str)], token: Option<&str>) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{}/webapi/entry.cgi", sim.base_url()))
        .form(form);
    if let Some(token) = token {
        request = request.header("X-SYNO-TOKEN", token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn login(sim: &DsmSim) -> (String, String) {
    let v = post(
        sim,
        &[
            ("api", "SYNO.API.Auth"),
            ("version", "6"),
            ("method", "login"),
            ("account", "admin"),
            ("passwd", "pw"),
            ("format", "sid"),
            ("enable_syno_token", "yes"),
        ],
        None,
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    (
        v["data"]["sid"].as_str().unwrap().to_owned(),
        v["data"]["synotoken"].as_str().unwrap().to_owned(),
    )
}

const API: &str = "SYNO.Core.FileServ.NFS.SharePrivilege";

#[tokio::test]
async fn info_auth_load_and_save_follow_the_dsm_shapes() {
    let sim = start(1).await;
    let info: Value = reqwest::get(format!(
        "{}/webapi/query.cgi?api=SYNO.API.Info&version=1&method=query&query={API}",
        sim.base_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(info["data"][API]["path"], "entry.cgi");

    let bad = post(
        &sim,
        &[
            ("api", "SYNO.API.Auth"),
            ("version", "6"),
            ("method", "login"),
            ("account", "admin"),
            ("passwd", "no"),
        ],
        None,
    )
    .await;
    assert_eq!(bad["error"]["code"], 400);

    let (sid, token) = login(&sim).await;
    let load = post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "load"),
            ("share_name", "\"DATA\""),
            ("_sid", &sid),
        ],
        None,
    )
    .await;
    assert_eq!(load["data"]["share_name"], "DATA");
    assert_eq!(load["data"]["rule"][0]["client"], "*");

    let rules = r#"[{"client":"10.0.0.0/24","privilege":"RW","root_squash":"root","async":false,"insecure":false,"crossmnt":false,"security_flavor":{"sys":true}}]"#;
    let save = [
        ("api", API),
        ("version", "1"),
        ("method", "save"),
        ("share_name", "\"DATA\""),
        ("rule", rules),
        ("_sid", sid.as_str()),
    ];
    assert_eq!(
        post(&sim, &save, None).await["error"]["code"],
        119,
        "save needs the SynoToken"
    );
    assert_eq!(post(&sim, &save, Some(&token)).await["success"], true);
    assert_eq!(
        sim.rules("DATA").unwrap(),
        vec![serde_json::from_str::<Value>(rules).unwrap()[0].clone()]
            .into_iter()
            .map(|mut r| {
                r["privilege"] = json!("rw");
                r
            })
            .collect::<Vec<_>>()
    );

    // The whole list is replaced, not merged.
    let one = r#"[{"client":"10.9.9.9","privilege":"ro","root_squash":"guest"}]"#;
    post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "save"),
            ("share_name", "DATA"),
            ("rule", one),
            ("_sid", &sid),
        ],
        Some(&token),
    )
    .await;
    assert_eq!(sim.rules("DATA").unwrap().len(), 1);

    let name_param = post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "load"),
            ("name", "\"DATA\""),
            ("_sid", &sid),
        ],
        None,
    )
    .await;
    assert_eq!(name_param["error"]["code"], 2301);
    let missing = post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "load"),
            ("share_name", "\"NOPE\""),
            ("_sid", &sid),
        ],
        None,
    )
    .await;
    assert_eq!(missing["error"]["code"], 2370);
    let no_session = post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "load"),
            ("share_name", "\"DATA\""),
            ("_sid", "forged"),
        ],
        None,
    )
    .await;
    assert_eq!(no_session["error"]["code"], 119);
    let bad_rule = r#"[{"client":"x","privilege":"full","root_squash":"root"}]"#;
    let invalid = post(
        &sim,
        &[
            ("api", API),
            ("version", "1"),
            ("method", "save"),
            ("share_name", "DATA"),
            ("rule", bad_rule),
            ("_sid", &sid),
        ],
        Some(&token),
    )
    .await;
    assert_eq!(invalid["error"]["code"], 2301);
    assert_eq!(
        post(
            &sim,
            &[("api", "SYNO.Nope"), ("version", "1"), ("method", "x")],
            None
        )
        .await["error"]["code"],
        102
    );
    assert_eq!(
        post(
            &sim,
            &[
                ("api", API),
                ("version", "2"),
                ("method", "load"),
                ("_sid", &sid)
            ],
            None
        )
        .await["error"]["code"],
        104
    );
    assert!(
        sim.log().iter().all(|l| !l.contains("pw")),
        "no secrets in the log"
    );
}

#[tokio::test]
async fn overlapping_saves_report_success_and_one_is_lost() {
    let sim = start(200).await;
    let (sid, token) = login(&sim).await;
    let save = |client: &'static str| {
        let (sid, token) = (sid.clone(), token.clone());
        let sim_url = sim.base_url();
        async move {
            let rule =
                format!(r#"[{{"client":"{client}","privilege":"ro","root_squash":"guest"}}]"#);
            let v: Value = reqwest::Client::new()
                .post(format!("{sim_url}/webapi/entry.cgi"))
                .header("X-SYNO-TOKEN", token)
                .form(&[
                    ("api", API),
                    ("version", "1"),
                    ("method", "save"),
                    ("share_name", "DATA"),
                    ("rule", rule.as_str()),
                    ("_sid", sid.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    let (a, b) = tokio::join!(save("10.1.1.1"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        save("10.2.2.2").await
    });
    assert_eq!(
        (a["success"].clone(), b["success"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(sim.lost_saves(), 1);
    assert_eq!(sim.applied_saves(), 1);
    assert_eq!(sim.rules("DATA").unwrap()[0]["client"], "10.1.1.1");
}
