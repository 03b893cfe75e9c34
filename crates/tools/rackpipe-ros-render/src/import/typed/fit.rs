//! Reading one entry's properties into typed values: `Fit` and the value parsers it uses.

use std::str::FromStr;

use rackpipe_model::types::{Duration, Hostname};
use rackpipe_routeros::Props;

use crate::import::secrets::is_secret;

/// Reads one entry's properties into typed values, remembering which it used.
pub(super) struct Fit<'a> {
    pub(super) props: &'a Props,
    pub(super) live: bool,
    pub(super) used: Vec<String>,
}

pub(super) fn truthy(v: &str) -> Option<bool> {
    match v {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

impl<'a> Fit<'a> {
    pub(super) fn new(props: &'a Props, live: bool) -> Self {
        Fit {
            props,
            live,
            used: Vec::new(),
        }
    }

    pub(super) fn get(&mut self, k: &str) -> Option<&'a str> {
        self.used.push(k.to_owned());
        self.props.get(k)
    }

    /// `k`, left out when it equals the live default `default`.
    pub(super) fn get_live(&mut self, k: &str, default: &str) -> Option<&'a str> {
        let v = self.get(k)?;
        (!(self.live && v == default)).then_some(v)
    }

    pub(super) fn req(&mut self, k: &str) -> Result<&'a str, String> {
        self.get(k).ok_or_else(|| format!("no `{k}`"))
    }

    pub(super) fn parse<T: FromStr>(
        &mut self,
        k: &str,
        v: Option<&str>,
    ) -> Result<Option<T>, String> {
        v.map(|v| T::from_str(v).map_err(|_| format!("`{k}={v}` does not fit the typed field")))
            .transpose()
    }

    pub(super) fn opt<T: FromStr>(&mut self, k: &str) -> Result<Option<T>, String> {
        let v = self.get(k);
        self.parse(k, v)
    }

    pub(super) fn need<T: FromStr>(&mut self, k: &str) -> Result<T, String> {
        let v = self.req(k)?;
        self.parse(k, Some(v))?.ok_or_else(|| format!("no `{k}`"))
    }

    pub(super) fn flag(&mut self, k: &str) -> Result<bool, String> {
        match self.get(k) {
            None => Ok(false),
            Some(v) => truthy(v).ok_or_else(|| format!("`{k}={v}` is not yes or no")),
        }
    }

    pub(super) fn comment(&mut self) -> Option<String> {
        self.get("comment")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    }

    pub(super) fn list<T: FromStr>(&mut self, k: &str) -> Result<Vec<T>, String> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(v) => v
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    T::from_str(s).map_err(|_| format!("`{k}={v}` does not fit the typed field"))
                })
                .collect(),
        }
    }

    pub(super) fn mtu(&mut self) -> Result<Option<u16>, String> {
        match self.get_live("mtu", "1500") {
            None | Some("auto") => Ok(None),
            Some(v) => match v.parse::<u16>() {
                Ok(n) if (68..=9216).contains(&n) => Ok(Some(n)),
                _ => Err(format!("`mtu={v}` does not fit the typed field")),
            },
        }
    }

    /// Every property was used, or is a default, or (live) is one the plan does not compare.
    pub(super) fn finish(self) -> Result<(), String> {
        for (k, v) in self.props.iter() {
            if self.used.iter().any(|u| u == k) {
                continue;
            }
            let default = match k {
                "disabled" => truthy(v) == Some(false),
                "comment" => v.is_empty(),
                _ => false,
            };
            if default || (self.live && k != "disabled" && k != "comment") {
                continue;
            }
            if k.starts_with('!') {
                return Err(format!(
                    "`{k}` unsets a property; the typed field cannot say so"
                ));
            }
            return Err(format!("`{k}` has no typed field"));
        }
        Ok(())
    }
}

/// A `yes`/`no` property, when given.
pub(super) fn yes_no(
    f: &mut Fit<'_>,
    k: &str,
) -> Result<Option<rackpipe_model::router::YesNo>, String> {
    match f.get(k) {
        None => Ok(None),
        Some(v) => truthy(v)
            .map(|b| Some(b.into()))
            .ok_or_else(|| format!("`{k}={v}` is not yes or no")),
    }
}

pub(super) fn enum_word<T: serde::de::DeserializeOwned>(word: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(word.to_owned()))
        .map_err(|_| format!("`{word}` is not a value the typed field knows"))
}

/// `00:30:00` or `30m` → the typed duration (`30m`).
pub(super) fn duration(v: &str) -> Result<Duration, String> {
    let text = if v.contains(':') {
        let parts: Vec<u64> = v
            .split(':')
            .map(|p| p.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{v}` is not a duration"))?;
        let [h, m, s] = parts[..] else {
            return Err(format!("`{v}` is not a duration"));
        };
        compact((h * 60 + m) * 60 + s)
    } else {
        v.to_owned()
    };
    Duration::from_str(&text).map_err(|_| format!("`{v}` is not a duration"))
}

pub(super) fn compact(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// A short description of an entry that never holds a secret (`name=wg0`, `#3`).
pub(super) fn describe(menu: &str, props: &Props, index: usize) -> String {
    for key in [
        "name",
        "default-name",
        "interface",
        "address",
        "list",
        "comment",
    ] {
        if let Some(v) = props.get(key)
            && !is_secret(menu, key)
            && !v.is_empty()
        {
            return format!("{key}={v}");
        }
    }
    format!("#{}", index + 1)
}

/// A host name made of `name` (invalid characters become `-`).
pub(super) fn host_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let labels: Vec<String> = s
        .split('.')
        .map(|l| l.trim_matches('-').chars().take(63).collect::<String>())
        .filter(|l| !l.is_empty())
        .collect();
    let out = labels.join(".");
    if Hostname::from_str(&out).is_ok() {
        out
    } else {
        "router".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_host_names() {
        assert_eq!(duration("00:30:00").unwrap().to_string(), "30m");
        assert_eq!(duration("1d").unwrap().to_string(), "1d");
        assert_eq!(compact(90_061), "1d1h1m1s");
        assert_eq!(host_name("foxden router"), "foxden-router");
        assert_eq!(host_name("!!!"), "router");
    }
}
