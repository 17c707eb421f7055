//! Remote actions against `schemas/` (issue 11), on the running stack
//! (`vigil run gateway collector actioner`) with the simulated agent:
//!
//! - every actioner endpoint answers what `schemas/actioner-*.schema.json`
//!   says: each request is the typed message of `vigil_bus::subjects::actioner`,
//!   serialized; the request and the raw reply are validated against the
//!   endpoint's schema file, then the reply is parsed back into its typed
//!   reply. Error replies (bad_request, not_found, unprocessable) are
//!   validated too, also for requests that break the request schema (the
//!   actioner refuses them with the error the schema's description names);
//! - every message the stack publishes on `actions.>` during three actions
//!   (one that succeeds, one the agent denies, one that expires waiting for
//!   an agent) matches `schemas/action-*.schema.json` and parses as its type;
//! - a host whose agent registered an action policy matches
//!   `collector-hosts-*.schema.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};
use vigil_bus::messages::{
    ActionDispatched, ActionOrder, ActionOutcome, ActionPolicy, ActionRecord, ActionStatus, ActionType, GetHost, HostRecord,
    ListActions, ListHosts, PendingActions, RegisterHost, Reply, RequestAction, TenantItem,
};
use vigil_bus::subjects::{self, actioner, collector};
use vigil_proto::{vigil_service_client::VigilServiceClient, RegisterRequest};
use vigil_testkit::eventually;
use vigil_testkit::schemas::{assert_valid, checked_request, EndpointBus};
use vigil_tests::sim::{self, Agent};
use vigil_tests::Stack;

const WAIT: Duration = Duration::from_secs(30);
const TENANT: &str = "acme";
const BY: &str = "ops@acme.test";
const USER: &str = "user-0123456789abcdef";

/// The schema file of the messages of an action subject's stage.
fn stage_schema(stage: &str) -> &'static str {
    match stage {
        "requested" => "action-order.schema.json",
        "dispatched" => "action-dispatched.schema.json",
        "result" => "action-outcome.schema.json",
        "status" => "action-record.schema.json",
        other => panic!("actions.<tenant>.<host>.{other} is not an action stage"),
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn item(id: &str) -> TenantItem {
    TenantItem { tenant_id: TENANT.into(), id: id.into() }
}

fn list() -> ListActions {
    ListActions { tenant_id: TENANT.into(), ..Default::default() }
}

fn ids(records: &[ActionRecord]) -> Vec<&str> {
    records.iter().map(|record| record.id.as_str()).collect()
}

fn report(action_id: &str, status: &str) -> vigil_proto::ActionResult {
    vigil_proto::ActionResult { action_id: action_id.to_owned(), status: status.to_owned(), ..Default::default() }
}

/// The agent's action policy as the sim registers it, and as the collector
/// should store it.
fn policy() -> (vigil_proto::ActionPolicy, ActionPolicy) {
    let allowed = vec!["systemctl restart *".to_owned(), "systemctl status *".to_owned()];
    let denied = vec!["exec *".to_owned()];
    let engines = vec!["podman".to_owned(), "docker".to_owned()];
    let proto = vigil_proto::ActionPolicy {
        enabled: true,
        allowed: allowed.clone(),
        denied: denied.clone(),
        service_manager: "systemd".into(),
        engines: engines.clone(),
    };
    (proto, ActionPolicy { enabled: true, allowed, denied, service_manager: "systemd".into(), engines })
}

/// Registers machine `m-<name>` again, this time with an action policy
/// (`sim::register` sends none); returns the host id.
async fn register_with_policy(stack: &Stack, token: &str, name: &str, policy: vigil_proto::ActionPolicy) -> String {
    let channel = sim::channel(&stack.grpc_address(), &stack.ca_path()).await.unwrap();
    let mut request = tonic::Request::new(RegisterRequest {
        name: name.to_owned(),
        hostname: name.to_owned(),
        machine_id: format!("m-{name}"),
        os: "Debian GNU/Linux 12 (bookworm)".to_owned(),
        arch: "x86_64".to_owned(),
        agent_version: "sim".to_owned(),
        ip_address: "127.0.0.1".to_owned(),
        requested_id: String::new(),
        actions: Some(policy),
    });
    vigil_testkit::agent::authorize(&mut request, token);
    VigilServiceClient::new(channel).register(request).await.expect("registered with a policy").into_inner().host_id
}

/// Waits until `actions.get` shows action `id` in `status`; returns the record.
async fn wait_status(bus: &EndpointBus, id: &str, status: ActionStatus) -> ActionRecord {
    eventually(&format!("action {id} {}", status.as_str()), WAIT, || async {
        let record = bus.ok(actioner::GET, &item(id)).await;
        (record.status == status).then_some(record)
    })
    .await
}

/// What the stack published on `actions.>` about one action, each message
/// validated against its schema and parsed.
#[derive(Default)]
struct Published {
    orders: Vec<ActionOrder>,
    dispatches: Vec<ActionDispatched>,
    results: Vec<ActionOutcome>,
    statuses: Vec<ActionRecord>,
}

impl Published {
    fn result_statuses(&self) -> Vec<ActionStatus> {
        self.results.iter().map(|result| result.status).collect()
    }

    /// The statuses published, repeats of the same status merged.
    fn record_statuses(&self) -> Vec<ActionStatus> {
        let mut statuses: Vec<ActionStatus> = self.statuses.iter().map(|record| record.status).collect();
        statuses.dedup();
        statuses
    }
}

/// Validates `message` against its stage's schema, parses it and files it
/// under its action id in `published`.
fn file_message(message: &async_nats::Message, published: &mut BTreeMap<String, Published>) {
    let subject = message.subject.as_str();
    let (tenant, host, stage) = subjects::parse_action(subject).unwrap_or_else(|| panic!("{subject} is not an action subject"));
    let value: Value = serde_json::from_slice(&message.payload).unwrap_or_else(|e| panic!("{subject}: not JSON: {e}"));
    assert_valid(stage_schema(stage), None, &value);
    let (id, ids) = match stage {
        "requested" => {
            let order: ActionOrder = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{subject}: {e}: {value}"));
            let (id, ids) = (order.id.clone(), (order.tenant_id.clone(), order.host_id.clone()));
            published.entry(id.clone()).or_default().orders.push(order);
            (id, ids)
        }
        "dispatched" => {
            let dispatched: ActionDispatched =
                serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{subject}: {e}: {value}"));
            let (id, ids) = (dispatched.action_id.clone(), (dispatched.tenant_id.clone(), dispatched.host_id.clone()));
            published.entry(id.clone()).or_default().dispatches.push(dispatched);
            (id, ids)
        }
        "result" => {
            let outcome: ActionOutcome =
                serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{subject}: {e}: {value}"));
            let (id, ids) = (outcome.action_id.clone(), (outcome.tenant_id.clone(), outcome.host_id.clone()));
            published.entry(id.clone()).or_default().results.push(outcome);
            (id, ids)
        }
        _ => {
            let record: ActionRecord =
                serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{subject}: {e}: {value}"));
            let (id, ids) = (record.id.clone(), (record.tenant_id.clone(), record.host_id.clone()));
            published.entry(id.clone()).or_default().statuses.push(record);
            (id, ids)
        }
    };
    assert_eq!((ids.0.as_str(), ids.1.as_str()), (tenant, host), "{subject} carries action {id} of another tenant or host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_message_and_actioner_endpoint_match_the_schemas() {
    let stack = Stack::new().await.unwrap();
    let _vigil = stack.spawn(&["gateway", "collector", "actioner"]).await.unwrap();
    let acme = stack.tenant(TENANT).await.unwrap();
    let nats = stack.nats.client().await;
    // before anything is asked: every action message the stack publishes
    let mut published_messages = nats.subscribe(subjects::ACTIONS_ALL).await.unwrap();
    let bus = EndpointBus::new(nats.clone(), "actioner");

    // ---------------------------------------------------------------- hosts with an action policy
    let mut agent = Agent::start(&stack, &acme.token, "web-1").await.unwrap();
    let (proto_policy, stored_policy) = policy();
    let again = register_with_policy(&stack, &acme.token, "web-1", proto_policy).await;
    assert_eq!(again, agent.host, "the same machine keeps its host id");
    let get = GetHost { tenant_id: TENANT.into(), host_id: agent.host.clone() };
    let raw = checked_request(
        &nats,
        &collector::GET_HOST.subject(),
        "collector-hosts-get.schema.json",
        serde_json::to_value(&get).unwrap(),
    )
    .await;
    let host: Reply<HostRecord> = serde_json::from_value(raw.clone()).unwrap();
    let Reply::Ok(host) = host else { panic!("hosts.get answered an error: {raw}") };
    assert_eq!(host.actions.as_ref(), Some(&stored_policy), "{raw}");
    assert_eq!(raw["ok"]["actions"]["service_manager"], "systemd", "{raw}");

    // a host registered on the bus (no agent stream: its orders wait, then expire)
    let register = RegisterHost {
        tenant_id: TENANT.into(),
        requested_id: None,
        name: "db-1".into(),
        hostname: "db-1.acme.test".into(),
        machine_id: "m-db-1".into(),
        os: "Alpine Linux v3.20".into(),
        arch: "aarch64".into(),
        agent_version: "0.9.0".into(),
        ip_address: "10.0.0.7".into(),
        actions: Some(ActionPolicy {
            enabled: false,
            allowed: vec![],
            denied: vec![],
            service_manager: "openrc".into(),
            engines: vec!["incus".into()],
        }),
    };
    let raw = checked_request(
        &nats,
        &collector::REGISTER_HOST.subject(),
        "collector-hosts-register.schema.json",
        serde_json::to_value(&register).unwrap(),
    )
    .await;
    let offline: Reply<HostRecord> = serde_json::from_value(raw.clone()).unwrap();
    let Reply::Ok(offline) = offline else { panic!("hosts.register answered an error: {raw}") };
    assert_eq!(offline.actions, register.actions, "{raw}");
    let raw = checked_request(
        &nats,
        &collector::LIST_HOSTS.subject(),
        "collector-hosts-list.schema.json",
        serde_json::to_value(ListHosts { tenant_id: TENANT.into() }).unwrap(),
    )
    .await;
    assert_eq!(raw["ok"].as_array().map(Vec::len), Some(2), "{raw}");

    // ---------------------------------------------------------------- an action that succeeds
    let restart = RequestAction {
        tenant_id: TENANT.into(),
        host_id: agent.host.clone(),
        action_type: ActionType::RestartService,
        params: params(&[("service", "php8.2-fpm")]),
        user_id: Some(USER.into()),
        requested_by: BY.into(),
        ttl_seconds: None,
        timeout_seconds: None,
        idempotency_key: Some("schema-restart".into()),
    };
    let requested = bus.ok(actioner::REQUEST, &restart).await;
    assert_eq!(
        (requested.status, requested.output.as_deref(), requested.user_id.as_deref(), requested.timeout_seconds),
        (ActionStatus::Pending, Some(""), Some(USER), 60)
    );
    let first = requested.id.clone();
    // the same key again: the same action, nothing new published
    assert_eq!(bus.ok(actioner::REQUEST, &restart).await.id, first);

    let action = agent.next_action(WAIT).await.expect("the order reaches the agent");
    assert_eq!(action.id, first);
    eventually("the dispatch recorded", WAIT, || async { bus.ok(actioner::GET, &item(&first)).await.dispatched_at.map(|_| ()) })
        .await;
    agent
        .report(vigil_proto::ActionResult {
            command: "systemctl restart php8.2-fpm.service".into(),
            rule: "systemctl restart *".into(),
            started_at: sim::rfc3339(Utc::now()),
            ..report(&first, "running")
        })
        .await;
    wait_status(&bus, &first, ActionStatus::Running).await;
    agent
        .report(vigil_proto::ActionResult {
            success: true,
            exit_code: Some(0),
            output: "restarted\n".into(),
            duration_ms: 1234,
            ..report(&first, "success")
        })
        .await;
    let done = wait_status(&bus, &first, ActionStatus::Success).await;
    assert_eq!(
        (done.command.as_deref(), done.rule.as_deref(), done.exit_code, done.output.as_deref(), done.duration_ms),
        (Some("systemctl restart php8.2-fpm.service"), Some("systemctl restart *"), Some(0), Some("restarted\n"), Some(1234))
    );
    assert!(done.started_at.is_some() && done.completed_at.is_some(), "{done:?}");

    // ---------------------------------------------------------------- an action the agent denies
    let exec = RequestAction {
        tenant_id: TENANT.into(),
        host_id: agent.host.clone(),
        action_type: ActionType::Exec,
        params: params(&[("command", "df -h | tail -n 1")]),
        user_id: None,
        requested_by: "scenario:scenario-0123456789abcdef".into(),
        ttl_seconds: Some(600),
        timeout_seconds: Some(30),
        idempotency_key: None,
    };
    let second = bus.ok(actioner::REQUEST, &exec).await.id;
    // what a gateway hands to an agent that connects now: the unfinished order, as signed
    let pending = bus.ok(actioner::PENDING, &PendingActions { tenant_id: TENANT.into(), host_id: agent.host.clone() }).await;
    assert_eq!(pending.iter().map(|order| order.id.as_str()).collect::<Vec<_>>(), [second.as_str()]);
    assert_eq!((pending[0].action_type, pending[0].timeout_seconds), (ActionType::Exec, 30));
    assert_eq!(agent.next_action(WAIT).await.expect("the second order").id, second);
    agent
        .report(vigil_proto::ActionResult {
            command: "exec df -h | tail -n 1".into(),
            rule: "exec *".into(),
            error: "exec df -h | tail -n 1 is denied by actions.denied \"exec *\"".into(),
            ..report(&second, "denied")
        })
        .await;
    let denied = wait_status(&bus, &second, ActionStatus::Denied).await;
    assert!(denied.error.as_deref().is_some_and(|e| e.contains("denied")), "{denied:?}");
    let left = bus.ok(actioner::PENDING, &PendingActions { tenant_id: TENANT.into(), host_id: agent.host.clone() }).await;
    assert!(left.is_empty(), "a final action is not pending: {left:?}");

    // ---------------------------------------------------------------- an action that expires waiting for its agent
    let stop = RequestAction {
        tenant_id: TENANT.into(),
        host_id: offline.id.clone(),
        action_type: ActionType::StopContainer,
        params: params(&[("container", "shop-db"), ("engine", "incus")]),
        user_id: Some(USER.into()),
        requested_by: BY.into(),
        ttl_seconds: Some(1),
        timeout_seconds: None,
        idempotency_key: None,
    };
    let third = bus.ok(actioner::REQUEST, &stop).await.id;
    let waiting = bus.ok(actioner::PENDING, &PendingActions { tenant_id: TENANT.into(), host_id: offline.id.clone() }).await;
    assert_eq!(waiting.iter().map(|order| order.id.as_str()).collect::<Vec<_>>(), [third.as_str()]);
    let expired = wait_status(&bus, &third, ActionStatus::Expired).await;
    assert!(expired.error.as_deref().is_some_and(|e| e.contains("expired")), "{expired:?}");
    assert_eq!((expired.dispatched_at, expired.started_at), (None, None));

    // ---------------------------------------------------------------- list, get
    let all = bus.ok(actioner::LIST, &list()).await;
    assert_eq!(ids(&all), [third.as_str(), second.as_str(), first.as_str()], "newest first");
    assert!(all.iter().all(|record| record.output.is_none()), "lists carry no output: {all:?}");
    let page = bus.ok(actioner::LIST, &ListActions { limit: Some(2), ..list() }).await;
    assert_eq!(ids(&page), [third.as_str(), second.as_str()]);
    let next = ListActions { limit: Some(2), before: Some(second.clone()), ..list() };
    assert_eq!(ids(&bus.ok(actioner::LIST, &next).await), [first.as_str()]);
    let of_host = ListActions { host_id: Some(agent.host.clone()), ..list() };
    assert_eq!(ids(&bus.ok(actioner::LIST, &of_host).await), [second.as_str(), first.as_str()]);
    let filtered =
        ListActions { status: Some(ActionStatus::Success), action_type: Some(ActionType::RestartService), ..of_host.clone() };
    assert_eq!(ids(&bus.ok(actioner::LIST, &filtered).await), [first.as_str()]);
    let none = ListActions { status: Some(ActionStatus::Failed), ..list() };
    assert!(bus.ok(actioner::LIST, &none).await.is_empty());
    assert_eq!(bus.ok(actioner::GET, &item(&second)).await, denied);

    // ---------------------------------------------------------------- errors
    bus.error(actioner::GET, &item("act-0000000000000000"), "not_found").await;
    let other_tenant = TenantItem { tenant_id: "globex".into(), id: first.clone() };
    bus.error(actioner::GET, &other_tenant, "not_found").await;
    let unknown_host = RequestAction { host_id: "host-0000000000000000".into(), idempotency_key: None, ..restart.clone() };
    bus.error(actioner::REQUEST, &unknown_host, "not_found").await;
    let other_tenant = RequestAction { tenant_id: "globex".into(), idempotency_key: None, ..restart.clone() };
    bus.error(actioner::REQUEST, &other_tenant, "not_found").await;
    // limits the schema cannot know (the actioner's configuration): unprocessable naming the field
    let long = RequestAction { timeout_seconds: Some(86_400), idempotency_key: None, ..restart.clone() };
    let error = bus.error(actioner::REQUEST, &long, "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("timeout_seconds is 86400; at most 3600"), "{error}");
    let late = RequestAction { ttl_seconds: Some(90_000), idempotency_key: None, ..restart.clone() };
    let error = bus.error(actioner::REQUEST, &late, "unprocessable").await;
    assert!(error["error"]["message"].as_str().unwrap().starts_with("ttl_seconds is 90000; at most 86400"), "{error}");

    // requests the schema refuses: the actioner refuses them too, naming the param or field
    let request = |edit: &dyn Fn(&mut RequestAction)| {
        let mut request = RequestAction { idempotency_key: None, ..restart.clone() };
        edit(&mut request);
        serde_json::to_value(request).unwrap()
    };
    for (body, expected) in [
        (request(&|r| r.params = params(&[("service", "nginx;reboot")])), "params.service \"nginx;reboot\" contains ';'"),
        (request(&|r| r.params = params(&[("service", "a\nb")])), "params.service \"a\\nb\" contains '\\n'"),
        (request(&|r| r.params = params(&[])), "params.service is required for restart_service"),
        (
            request(&|r| {
                r.action_type = ActionType::Exec;
                r.params = params(&[("command", "id"), ("user", "root")]);
            }),
            "params.user is not a parameter of exec",
        ),
        (
            request(&|r| {
                r.action_type = ActionType::Exec;
                r.params = params(&[("command", "df\nreboot")]);
            }),
            "params.command \"df\\nreboot\" contains the control character",
        ),
        (
            request(&|r| {
                r.action_type = ActionType::RestartContainer;
                r.params = params(&[("container", "web"), ("engine", "lxc")]);
            }),
            "params.engine \"lxc\" is not one of docker, podman, incus",
        ),
        (request(&|r| r.requested_by = String::new()), "requested_by is empty"),
        (request(&|r| r.idempotency_key = Some(String::new())), "idempotency_key is empty"),
        (request(&|r| r.ttl_seconds = Some(0)), "ttl_seconds is 0"),
        (request(&|r| r.timeout_seconds = Some(0)), "timeout_seconds is 0"),
    ] {
        let message = bus.refused(actioner::REQUEST.untyped(), &body, "unprocessable").await;
        assert!(message.starts_with(expected), "{body} -> {message}");
    }
    // an unknown type does not decode
    let mut reboot = request(&|_| {});
    reboot["type"] = json!("reboot");
    bus.refused(actioner::REQUEST.untyped(), &reboot, "bad_request").await;
    // ids that are not ids
    let message = bus.refused(actioner::GET.untyped(), &json!({"tenant_id": TENANT, "id": "act.1>"}), "bad_request").await;
    assert!(message.contains("act.1>"), "{message}");
    bus.refused(actioner::LIST.untyped(), &json!({"tenant_id": TENANT, "before": "a b"}), "bad_request").await;
    bus.refused(actioner::PENDING.untyped(), &json!({"tenant_id": TENANT, "host_id": "h.*"}), "bad_request").await;
    // a tenant id that is not one: every endpoint answers bad_request
    for endpoint in actioner::ALL {
        bus.refused(*endpoint, &json!({"tenant_id": "no.such.tenant"}), "bad_request").await;
    }
    let (_, list_all) = bus.call(actioner::LIST, &list()).await;
    assert!(matches!(list_all, Reply::Ok(ref records) if records.len() == 3), "refused requests record nothing");

    // ---------------------------------------------------------------- what was published on actions.>
    let mut published: BTreeMap<String, Published> = BTreeMap::new();
    let finished = |published: &BTreeMap<String, Published>| {
        [(&first, ActionStatus::Success), (&second, ActionStatus::Denied), (&third, ActionStatus::Expired)]
            .iter()
            .all(|(id, status)| published.get(*id).is_some_and(|p| p.statuses.iter().any(|record| record.status == *status)))
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !finished(&published) {
        let message = tokio::time::timeout_at(deadline, published_messages.next())
            .await
            .unwrap_or_else(|_| panic!("not every status was published; seen {:?}", published.keys().collect::<Vec<_>>()))
            .expect("the subscription is open");
        file_message(&message, &mut published);
    }
    // anything still on its way
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), published_messages.next()).await {
        file_message(&message, &mut published);
    }
    assert_eq!(published.keys().collect::<BTreeSet<_>>(), BTreeSet::from([&first, &second, &third]));

    let succeeded = &published[&first];
    assert_eq!(succeeded.orders.len(), 1, "the same idempotency key published one order");
    let order = &succeeded.orders[0];
    assert_eq!(
        (order.id.as_str(), order.action_type, &order.params),
        (first.as_str(), ActionType::RestartService, &restart.params)
    );
    assert_eq!((order.requested_at, order.expires_at), (requested.created_at, requested.expires_at));
    let key = reqwest::get(stack.http("/downloads/actions.pub")).await.unwrap().text().await.unwrap();
    let key = vigil_runtime::signing::decode_public_key(&key).unwrap();
    let signed = vigil_bus::actions::signed_message(order);
    assert!(vigil_runtime::signing::verify(&key, &signed, &action.signature), "the published order is what the agent verified");
    assert!(!succeeded.dispatches.is_empty(), "dispatched");
    assert_eq!(succeeded.result_statuses(), [ActionStatus::Running, ActionStatus::Success]);
    assert_eq!(succeeded.results[0].duration_ms, None, "running has no duration");
    assert_eq!(succeeded.results[1].output, "restarted\n");
    assert_eq!(succeeded.record_statuses(), [ActionStatus::Pending, ActionStatus::Running, ActionStatus::Success]);
    assert!(succeeded.statuses.iter().any(|record| record.dispatched_at.is_some()), "a status after the dispatch");
    assert_eq!(succeeded.statuses.last(), Some(&done));

    let refused = &published[&second];
    assert_eq!(refused.orders.len(), 1);
    assert_eq!(refused.orders[0].signature, pending[0].signature, "actions.pending answers the order as signed");
    assert!(!refused.dispatches.is_empty(), "dispatched");
    assert_eq!(refused.result_statuses(), [ActionStatus::Denied]);
    assert_eq!(refused.record_statuses(), [ActionStatus::Pending, ActionStatus::Denied]);

    let lapsed = &published[&third];
    assert_eq!((lapsed.orders.len(), lapsed.dispatches.len(), lapsed.results.len()), (1, 0, 0), "never handed over");
    assert_eq!(lapsed.orders[0], waiting[0]);
    assert_eq!(lapsed.record_statuses(), [ActionStatus::Pending, ActionStatus::Expired]);

    bus.assert_all_called(actioner::ALL);
}
