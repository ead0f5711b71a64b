//! `/api/v1/chaos` (Mailpit's shape, extended with more stages, `Delay`
//! and `Disconnect`) and MailHog's `/api/v2/jim`, both over the same
//! [`Rules`]. Always available: the API is on loopback by default and
//! behind `--ui-auth` when it is not.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::domain::chaos::{self, LinkSpeed, Rules, Stage, Trigger};
use crate::web::params::json_body;
use crate::web::{ApiError, AppState};

/// One stage's trigger as JSON, as a PUT gives it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TriggerJson {
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    probability: Option<f64>,
    /// Milliseconds before every reply at this stage.
    #[serde(default)]
    delay: Option<u64>,
    #[serde(default)]
    disconnect: Option<bool>,
}

/// The link speed as JSON, as a PUT gives it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct LinkJson {
    #[serde(default)]
    probability: Option<f64>,
    /// Bytes a second.
    #[serde(default)]
    min: Option<u64>,
    #[serde(default)]
    max: Option<u64>,
}

/// The JSON names of the stages, Mailpit's three among them.
const STAGE_NAMES: [(Stage, &str); 7] = [
    (Stage::Connect, "Connect"),
    (Stage::Helo, "Helo"),
    (Stage::Auth, "Authentication"),
    (Stage::Mail, "Sender"),
    (Stage::Rcpt, "Recipient"),
    (Stage::Data, "Data"),
    (Stage::AfterData, "AfterData"),
];

const EXPECTED: &str = r#"expected {"Recipient": {"ErrorCode": 451, "Probability": 50}, ...} with triggers Connect, Helo, Authentication, Sender, Recipient, Data, AfterData, each with ErrorCode (400-599), Probability (0-100), Delay (ms) and Disconnect (true/false); and Link with Probability, Min and Max (bytes a second)"#;

/// A whole percentage goes out as an integer, as Mailpit sends it: clients
/// with an integer field cannot read `50.0`.
fn percent_json(percent: f64) -> serde_json::Value {
    if percent.fract() == 0.0 {
        serde_json::json!(percent as u64)
    } else {
        serde_json::json!(percent)
    }
}

/// Mailpit's three triggers, always shown, as Mailpit shows them.
const MAILPIT_STAGES: [Stage; 3] = [Stage::Auth, Stage::Mail, Stage::Rcpt];

/// The rules in Mailpit's shape: `Authentication`, `Sender` and
/// `Recipient`, each `{"ErrorCode", "Probability"}`, so that a client gets
/// back exactly what it PUT. Letterbox's additions appear only when set:
/// `Delay` and `Disconnect` on a trigger, the other stages, `Link`.
fn to_json(rules: &Rules) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (stage, name) in STAGE_NAMES {
        let trigger = rules.get(stage);
        if !MAILPIT_STAGES.contains(&stage) && *trigger == Trigger::off(stage) {
            continue;
        }
        let mut json = serde_json::json!({
            "ErrorCode": trigger.error_code,
            "Probability": percent_json(trigger.probability),
        });
        if !trigger.delay.is_zero() {
            json["Delay"] = u64::try_from(trigger.delay.as_millis())
                .unwrap_or(u64::MAX)
                .into();
        }
        if trigger.disconnect {
            json["Disconnect"] = true.into();
        }
        object.insert(name.into(), json);
    }
    let link = rules.link();
    if *link != LinkSpeed::default() {
        object.insert(
            "Link".into(),
            serde_json::json!({
                "Probability": percent_json(link.probability),
                "Min": link.min,
                "Max": link.max,
            }),
        );
    }
    object.into()
}

/// Rules from a PUT body: triggers left out are off, as in Mailpit.
fn from_json(body: &[u8]) -> Result<Rules, ApiError> {
    let mut object: serde_json::Map<String, serde_json::Value> = json_body(body, EXPECTED)?;
    let mut rules = Rules::default();
    for (stage, name) in STAGE_NAMES {
        let Some(value) = object.remove(name) else {
            continue;
        };
        let json: TriggerJson = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}; {EXPECTED}")))?;
        let off = Trigger::off(stage);
        let trigger = Trigger {
            error_code: json.error_code.unwrap_or(off.error_code),
            probability: json.probability.unwrap_or(0.0),
            delay: Duration::from_millis(json.delay.unwrap_or(0)),
            disconnect: json.disconnect.unwrap_or(false),
        };
        rules
            .set(stage, trigger)
            .map_err(|problem| ApiError::bad_request(format!("{name}: {problem}")))?;
    }
    if let Some(value) = object.remove("Link") {
        let json: LinkJson = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("Link: {e}; {EXPECTED}")))?;
        let off = LinkSpeed::default();
        let link = LinkSpeed {
            probability: json.probability.unwrap_or(0.0),
            min: json.min.unwrap_or(off.min),
            max: json.max.unwrap_or(off.max),
        };
        rules
            .set_link(link)
            .map_err(|problem| ApiError::bad_request(format!("Link: {problem}")))?;
    }
    if let Some(unknown) = object.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown trigger {unknown:?}; {EXPECTED}"
        )));
    }
    Ok(rules)
}

/// `GET /api/v1/chaos`: the rules in force.
pub async fn get(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(to_json(&state.chaos.rules()))
}

/// `PUT /api/v1/chaos`: replaces the rules; answers with the new ones.
pub async fn put(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules = from_json(&body)?;
    let json = to_json(&rules);
    set_rules(&state, rules);
    Ok(Json(json))
}

/// Puts `rules` in force and tells the web UI, whose banner follows them.
fn set_rules(state: &AppState, rules: Rules) {
    tracing::info!(rules = %rules, "chaos rules changed");
    let text = rules.active_text();
    state.chaos.replace(rules);
    state.app.chaos_changed(text);
}

/// MailHog's Jim: chances from 0 to 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Jim {
    disconnect_chance: f64,
    accept_chance: f64,
    link_speed_affect: f64,
    link_speed_min: f64,
    link_speed_max: f64,
    reject_sender_chance: f64,
    reject_recipient_chance: f64,
    reject_auth_chance: f64,
}

impl Default for Jim {
    /// MailHog's defaults when Jim is invited without settings.
    fn default() -> Self {
        Jim {
            disconnect_chance: 0.005,
            accept_chance: 0.99,
            link_speed_affect: 0.1,
            link_speed_min: 1024.0,
            link_speed_max: 10240.0,
            reject_sender_chance: 0.05,
            reject_recipient_chance: 0.05,
            reject_auth_chance: 0.05,
        }
    }
}

impl Jim {
    /// The rules Jim stands for: a refused connection is dropped unanswered
    /// (as MailHog does), a random disconnect happens at DATA, rejections
    /// are `550` for senders and recipients and `535` for AUTH; an affected
    /// link carries a connection's bytes at a rate between the two speeds.
    fn rules(&self) -> Result<Rules, ApiError> {
        let chances = [
            ("DisconnectChance", self.disconnect_chance),
            ("AcceptChance", self.accept_chance),
            ("LinkSpeedAffect", self.link_speed_affect),
            ("RejectSenderChance", self.reject_sender_chance),
            ("RejectRecipientChance", self.reject_recipient_chance),
            ("RejectAuthChance", self.reject_auth_chance),
        ];
        for (name, chance) in chances {
            if !(0.0..=1.0).contains(&chance) {
                return Err(ApiError::bad_request(format!(
                    "{name} {chance} is not a chance from 0 to 1"
                )));
            }
        }
        let mut rules = Rules::default();
        let mut set = |stage, chance: f64, code, disconnect| {
            rules
                .set(
                    stage,
                    Trigger {
                        error_code: code,
                        // In whole millionths of a percent: 1 - 0.99 is 1%,
                        // not 1.0000000000000009%.
                        probability: (chance * 1e8).round() / 1e6,
                        delay: Duration::ZERO,
                        disconnect,
                    },
                )
                .map_err(ApiError::bad_request)
        };
        set(Stage::Connect, 1.0 - self.accept_chance, 421, true)?;
        set(Stage::Data, self.disconnect_chance, 451, true)?;
        set(Stage::Mail, self.reject_sender_chance, 550, false)?;
        set(Stage::Rcpt, self.reject_recipient_chance, 550, false)?;
        set(Stage::Auth, self.reject_auth_chance, 535, false)?;
        let speed = |name: &str, value: f64| {
            (value >= 1.0 && value <= chaos::MAX_LINK_SPEED as f64)
                .then_some(value.round() as u64)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name} {value} is not a speed in bytes a second (1 to {})",
                        chaos::MAX_LINK_SPEED
                    ))
                })
        };
        rules
            .set_link(LinkSpeed {
                probability: (self.link_speed_affect * 1e8).round() / 1e6,
                min: speed("LinkSpeedMin", self.link_speed_min)?,
                max: speed("LinkSpeedMax", self.link_speed_max)?,
            })
            .map_err(ApiError::bad_request)?;
        Ok(rules)
    }

    /// Jim as the rules in force look to him.
    fn of(rules: &Rules) -> Jim {
        let chance = |stage| rules.get(stage).probability / 100.0;
        Jim {
            disconnect_chance: chance(Stage::Data),
            accept_chance: 1.0 - chance(Stage::Connect),
            link_speed_affect: rules.link().probability / 100.0,
            link_speed_min: rules.link().min as f64,
            link_speed_max: rules.link().max as f64,
            reject_sender_chance: chance(Stage::Mail),
            reject_recipient_chance: chance(Stage::Rcpt),
            reject_auth_chance: chance(Stage::Auth),
        }
    }
}

fn jim_not_invited() -> ApiError {
    ApiError::not_found("Jim is not enabled: POST /api/v2/jim to invite him")
}

/// `GET /api/v2/jim`: 404 while no chaos rules are active.
pub async fn jim_get(State(state): State<AppState>) -> Result<Json<Jim>, ApiError> {
    let rules = state.chaos.rules();
    if !rules.is_active() {
        return Err(jim_not_invited());
    }
    Ok(Json(Jim::of(&rules)))
}

fn jim_body(body: &[u8]) -> Result<Jim, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Jim::default());
    }
    // Fields left out keep MailHog's defaults.
    let mut value: serde_json::Value = serde_json::to_value(Jim::default()).expect("plain");
    let given: serde_json::Map<String, serde_json::Value> = json_body(
        body,
        r#"expected {"AcceptChance": 0.99, "RejectRecipientChance": 0.05, ...}"#,
    )?;
    for (key, v) in given {
        value[key] = v;
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid Jim: {e}")))
}

/// `POST /api/v2/jim`: invites Jim, with the body's settings or MailHog's
/// defaults; replaces any chaos rules.
pub async fn jim_post(State(state): State<AppState>, body: Bytes) -> Result<Json<Jim>, ApiError> {
    let jim = jim_body(&body)?;
    set_rules(&state, jim.rules()?);
    Ok(Json(jim))
}

/// `PUT /api/v2/jim`: changes Jim's settings; 404 unless he was invited.
pub async fn jim_put(State(state): State<AppState>, body: Bytes) -> Result<Json<Jim>, ApiError> {
    if !state.chaos.rules().is_active() {
        return Err(jim_not_invited());
    }
    jim_post(State(state), body).await
}

/// `DELETE /api/v2/jim`: sends Jim away, which turns every chaos rule off.
pub async fn jim_delete(State(state): State<AppState>) -> Json<serde_json::Value> {
    set_rules(&state, Rules::default());
    Json(serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_partial_puts() {
        let rules =
            from_json(br#"{"Recipient":{"ErrorCode":452,"Probability":50},"Data":{"Delay":1500}}"#)
                .unwrap();
        assert_eq!(rules.to_string(), "rcpt=452@50%,data=delay:1500ms");
        let json = to_json(&rules);
        assert_eq!(json["Sender"]["ErrorCode"], 451);
        assert_eq!(json["Sender"]["Probability"], 0);
        assert_eq!(json["Recipient"]["Probability"], 50);
        assert_eq!(json["Authentication"]["ErrorCode"], 535);
        assert_eq!(
            json["Data"],
            serde_json::json!({"ErrorCode": 451, "Probability": 0, "Delay": 1500})
        );
        assert!(
            json.get("Helo").is_none(),
            "stages left off are not shown: {json}"
        );
        assert!(json.get("Link").is_none(), "{json}");
        assert_eq!(
            from_json(json.to_string().as_bytes()).unwrap(),
            rules,
            "GET's answer PUT back changes nothing"
        );
    }

    #[test]
    fn mailpit_puts_come_back_exactly() {
        let put = serde_json::json!({
            "Authentication": {"ErrorCode": 451, "Probability": 5},
            "Recipient": {"ErrorCode": 452, "Probability": 10},
            "Sender": {"ErrorCode": 453, "Probability": 15},
        });
        let rules = from_json(put.to_string().as_bytes()).unwrap();
        assert_eq!(to_json(&rules), put);
        let off = to_json(&Rules::default());
        let mut keys: Vec<_> = off.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["Authentication", "Recipient", "Sender"]);
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (body, says) in [
            (r#"{"Sender":{"ErrorCode":250}}"#, "Sender: ErrorCode 250"),
            (
                r#"{"Recipient":{"Probability":101}}"#,
                "Recipient: Probability 101",
            ),
            (
                r#"{"Recipient":{"Probabilty":1}}"#,
                "unknown field `Probabilty`",
            ),
            (r#"{"Quit":{}}"#, "unknown trigger \"Quit\""),
            (r#"{"Data":{"Delay":3600000}}"#, "Data: Delay 3600000 ms"),
            ("[1]", "not an object"),
        ] {
            let err = from_json(body.as_bytes()).expect_err(body);
            assert!(err.message.contains(says), "{body}: {}", err.message);
        }
    }

    #[test]
    fn jim_maps_onto_rules() {
        let rules = Jim::default().rules().unwrap();
        assert_eq!(
            rules.to_string(),
            "connect=disconnect@1%,auth=535@5%,mail=550@5%,rcpt=550@5%,data=disconnect@0.5%,link=1024-10240@10%"
        );
        let jim = Jim::of(&rules);
        assert!((jim.accept_chance - 0.99).abs() < 1e-9);
        assert!((jim.reject_recipient_chance - 0.05).abs() < 1e-9);
        assert!((jim.link_speed_affect - 0.1).abs() < 1e-9);
        assert_eq!((jim.link_speed_min, jim.link_speed_max), (1024.0, 10240.0));
        let slow = Jim {
            link_speed_min: 20000.0,
            link_speed_max: 10.0,
            ..Jim::default()
        };
        assert!(
            slow.rules()
                .unwrap_err()
                .message
                .contains("Min 20000 and Max 10")
        );
    }

    #[test]
    fn the_link_speed_is_set_and_shown_as_json() {
        let rules =
            from_json(br#"{"Link": {"Probability": 25, "Min": 1000, "Max": 2000}}"#).unwrap();
        assert_eq!(rules.to_string(), "link=1000-2000@25%");
        assert_eq!(
            to_json(&rules)["Link"],
            serde_json::json!({"Probability": 25, "Min": 1000, "Max": 2000})
        );
        for (body, says) in [
            (r#"{"Link": {"Probability": 5, "Min": 0}}"#, "Link: Min 0"),
            (r#"{"Link": {"Speed": 5}}"#, "unknown field `Speed`"),
        ] {
            let err = from_json(body.as_bytes()).expect_err(body);
            assert!(err.message.contains(says), "{body}: {}", err.message);
        }
    }
}
