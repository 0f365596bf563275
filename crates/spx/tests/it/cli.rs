//! The `spx` binary as an operator runs it: generate, import, serve, sandbox, and its refusal
//! of bad configuration.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::json;

use crate::support::{
    Sink, TempDir, async_envelope, envelope, post_json, post_json_with, runtime, token,
};

pub const TESTS: &[(&str, crate::PlainTest)] = &[
    ("cli::generate_import_serve", generate_import_serve),
    (
        "cli::bad_configuration_is_named",
        bad_configuration_is_named,
    ),
    (
        "cli::sandbox_demonstrates_runs_the_scenarios_and_exits",
        sandbox_demonstrates_runs_the_scenarios_and_exits,
    ),
    (
        "cli::kill_9_loses_and_repeats_no_callback",
        kill_9_loses_and_repeats_no_callback,
    ),
    (
        "cli::audit_verify_names_an_edited_entry",
        audit_verify_names_an_edited_entry,
    ),
    ("cli::serve_terminates_tls", serve_terminates_tls),
    ("cli::keys_rotate_and_publish", keys_rotate_and_publish),
];

/// `spx keys`: a new key store has a signing and an encryption key; each rotates on its own,
/// the old one overlapping, and the JWKS publishes what verifies and what encrypts.
fn keys_rotate_and_publish() -> Result<()> {
    let dir = TempDir::new("keys");
    let keys = |args: &[&str]| output(spx().arg("keys").args(args).arg("--data-dir").arg(&dir.0));
    let (ok, listed, stderr) = keys(&["list"])?;
    ensure!(
        ok && listed.contains("sig ed25519") && listed.contains("enc ECDH-ES "),
        "{listed}{stderr}"
    );
    let (ok, said, stderr) = keys(&["rotate", "--encryption", "RSA-OAEP-256"])?;
    ensure!(ok && said.contains("RSA-OAEP-256"), "{said}{stderr}");
    let (ok, said, stderr) = keys(&["rotate", "--algorithm", "es256"])?;
    ensure!(ok && said.contains("es256"), "{said}{stderr}");
    let (_, listed, _) = keys(&["list"])?;
    let current: Vec<&str> = listed.lines().filter(|l| l.ends_with("Current")).collect();
    ensure!(
        current.len() == 2
            && current.iter().any(|l| l.contains("sig es256"))
            && current.iter().any(|l| l.contains("enc RSA-OAEP-256")),
        "{listed}"
    );
    ensure!(listed.matches("Overlapping").count() >= 2, "{listed}");
    let (_, jwks, _) = keys(&["jwks"])?;
    let jwks: serde_json::Value = serde_json::from_str(&jwks)?;
    let uses: Vec<&str> = jwks["keys"]
        .as_array()
        .context("keys")?
        .iter()
        .filter_map(|k| k["use"].as_str())
        .collect();
    ensure!(
        uses.iter().filter(|u| **u == "sig").count() >= 2
            && uses.iter().filter(|u| **u == "enc").count() >= 2,
        "{jwks}"
    );
    let (ok, _, stderr) = keys(&["rotate", "--encryption", "A128KW"])?;
    ensure!(!ok && stderr.contains("is not ECDH-ES"), "{stderr}");
    Ok(())
}

pub(crate) fn spx() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spx"));
    command
        .env("SPX_LOG", "warn")
        .env_remove("SPX__SERVICE__DATABASE_URL")
        .env_remove("SPX_CLIENT_SECRET");
    command
}

/// Registers `sender_id` with the social registry of `data` as a participant that may send
/// unsigned messages (as the README's curl examples do; signatures are tested in
/// signatures.rs, participants in access.rs) with every scope; its client secret.
fn admit(data: &std::path::Path, sender_id: &str) -> Result<String> {
    let (ok, stdout, stderr) = output(
        spx()
            .args(["participants", "add", sender_id, "--allow-unsigned"])
            .args(["--callback-prefix", "http://127.0.0.1:"])
            .args([
                "--scope",
                "registry.search",
                "--scope",
                "registry.subscribe",
            ])
            .args([
                "--scope",
                "registry.txn-status",
                "--scope",
                "registrar.records",
            ])
            .arg("--data-dir")
            .arg(data),
    )?;
    ensure!(ok, "participants add failed: {stderr}");
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("client_secret:"))
        .context("a client secret")?
        .trim()
        .to_string();
    Ok(secret)
}

pub(crate) fn output(command: &mut Command) -> Result<(bool, String, String)> {
    let out = command.output().context("running spx")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    ))
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn generate_import_serve() -> Result<()> {
    let dir = TempDir::new("cli");
    let files = dir.0.join("population");
    let data = dir.0.join("data");
    let (ok, stdout, stderr) = output(
        spx()
            .args([
                "generate", "--people", "400", "--seed", "3", "--format", "jsonl", "--out",
            ])
            .arg(&files),
    )?;
    ensure!(ok, "generate failed: {stderr}");
    ensure!(stdout.contains("persons (400 living)"), "{stdout}");
    ensure!(files.join("persons.jsonl").exists() && files.join("households.jsonl").exists());
    let (ok, stdout, stderr) = output(
        spx()
            .args(["import", "--role", "social", "--data-dir"])
            .arg(&data)
            .arg(&files),
    )?;
    ensure!(ok, "import failed: {stderr}");
    ensure!(
        stdout.contains("400 persons") && stdout.contains("0 rows rejected"),
        "{stdout}"
    );
    // The civil registry loads every person, living or dead, and the marriages file.
    let lines = |name: &str| -> Result<Vec<serde_json::Value>> {
        Ok(std::fs::read_to_string(files.join(name))?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    };
    let (everyone, marriages) = (lines("persons.jsonl")?, lines("marriages.jsonl")?);
    let deceased = everyone
        .iter()
        .filter(|p| !p["death_date"].is_null())
        .count();
    ensure!(!marriages.is_empty() && deceased > 0);
    let (ok, stdout, stderr) = output(
        spx()
            .args(["import", "--role", "crvs", "--data-dir"])
            .arg(&data)
            .arg(&files),
    )?;
    ensure!(ok, "import failed: {stderr}");
    let expected = format!(
        "{n} persons, {n} births, {deceased} deaths, {} marriages",
        marriages.len(),
        n = everyone.len()
    );
    ensure!(
        stdout.contains(&expected) && stdout.contains("0 rows rejected"),
        "expected '{expected}': {stdout}"
    );
    // The disability and farmer registries load their files, with the persons' names.
    let disabled = lines("disabilities.jsonl")?.len();
    let (farmers, parcels) = (lines("farmers.jsonl")?.len(), lines("parcels.jsonl")?.len());
    ensure!(disabled > 0 && farmers > 0 && parcels >= farmers);
    for (role, expected) in [
        (
            "dr",
            format!("{disabled} persons with a disability certificate or application"),
        ),
        ("fr", format!("{farmers} farmers, {parcels} parcels")),
        // The ID registry: an identity for everyone, the deceased included.
        (
            "id",
            format!("{} identities ({deceased} deceased)", everyone.len()),
        ),
    ] {
        let (ok, stdout, stderr) = output(
            spx()
                .args(["import", "--role", role, "--data-dir"])
                .arg(&data)
                .arg(&files),
        )?;
        ensure!(ok, "import failed: {stderr}");
        ensure!(
            stdout.contains(&expected) && stdout.contains("0 rows rejected"),
            "expected '{expected}': {stdout}"
        );
    }
    let first = std::fs::read_to_string(files.join("persons.jsonl"))?
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|person| !person["household_id"].is_null())
        .ok_or_else(|| anyhow!("no living person"))?;
    let uin = first["uin"].as_str().unwrap_or_default().to_string();

    let secret = admit(&data, "spmis.test")?;
    let cli_secret = admit(&data, "cli.spx.local")?;
    let (ok, listed, _) = output(
        spx()
            .args(["participants", "list", "--data-dir"])
            .arg(&data),
    )?;
    ensure!(
        ok && listed
            .lines()
            .any(|l| l.starts_with("spmis.test") && l.contains("ALLOWED")),
        "{listed}"
    );
    let (ok, _, stderr) = output(
        spx()
            .args(["participants", "add", "spmis.test", "--data-dir"])
            .arg(&data),
    )?;
    ensure!(!ok && stderr.contains("already a participant"), "{stderr}");
    let mut child = spx()
        .args([
            "serve",
            "--role",
            "social",
            "--listen",
            "127.0.0.1:0",
            "--service-id",
            "social.test",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    let _server = Running(child);
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .ok_or_else(|| anyhow!("serve printed no URL: {line}"))?
        .to_string();
    runtime().block_on(async {
        let body = envelope(vec![json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": uin}})]);
        let search = format!("{url}/registry/sync/search");
        let (status, answer) = post_json(&reqwest::Client::new(), &search, &body).await?;
        ensure!(status == 401 && answer["errors"][0]["code"] == "err.request.unauthorized", "{answer}");
        let token = token(&url, "spmis.test", &secret).await?;
        let (status, answer) = post_json_with(&reqwest::Client::new(), &search, &body, Some(&token)).await?;
        ensure!(status == 200, "{answer}");
        let record = &answer["message"]["search_response"][0]["data"]["reg_records"][0];
        ensure!(record["member_identifier"][0]["identifier_value"] == uin.as_str(), "{answer}");
        ensure!(record["demographic_info"]["name"]["given_name"] == first["given_name"], "{answer}");
        Ok::<_, anyhow::Error>(())
    })?;
    requester_commands(&url, &data, &uin, &first, &cli_secret)
}

/// `spx search`, `spx subscribe` and `spx unsubscribe` against a served registry, and
/// `spx subscriptions` on its store.
fn requester_commands(
    url: &str,
    data: &std::path::Path,
    uin: &str,
    person: &serde_json::Value,
    secret: &str,
) -> Result<()> {
    let spx = || {
        let mut command = spx();
        command.env("SPX_CLIENT_SECRET", secret);
        command
    };
    let subscriptions = |all: bool| {
        let mut command = spx();
        command.args(["subscriptions", "--data-dir"]).arg(data);
        if all {
            command.arg("--all");
        }
        output(&mut command)
    };
    let (ok, stdout, stderr) = output(spx().args(["search", "--url", url, "--uin", uin]))?;
    ensure!(ok, "spx search failed: {stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).context("search prints JSON")?;
    ensure!(
        answer["search_response"][0]["data"]["reg_records"][0]["member_identifier"][0]["identifier_value"]
            == uin,
        "{stdout}"
    );
    // A newcomer to this person's household, with a UIN nobody has.
    let newcomer = (1_000_000_000u64..)
        .map(|n| n.to_string())
        .find(|candidate| synth::uin_is_valid(candidate) && candidate != uin)
        .context("a valid UIN")?;
    let expression = format!(r#"uin = "{newcomer}""#);
    let mut child = spx()
        .args([
            "subscribe",
            "--url",
            url,
            "--event",
            "REGISTER",
            "--record-type",
            "Member",
        ])
        .args(["--expression", &expression, "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let subscriber = Running(child);
    let subscription: serde_json::Value =
        serde_json::from_str(&lines.next().context("the subscription")??)?;
    let code = subscription["code"].as_str().context("a code")?.to_string();
    runtime().block_on(async {
        let mut member = person.clone();
        member["uin"] = json!(newcomer);
        member["relationship_to_head"] = json!("EXT");
        let token = token(url, "cli.spx.local", secret).await?;
        let (status, answer) = post_json_with(
            &reqwest::Client::new(),
            &format!("{url}/registrar/records"),
            &json!({"persons": [member]}),
            Some(&token),
        )
        .await?;
        ensure!(status == 200, "{answer}");
        Ok::<_, anyhow::Error>(())
    })?;
    let notification: serde_json::Value =
        serde_json::from_str(&lines.next().context("a notification")??)?;
    ensure!(
        notification["header"]["meta"]["subscription_code"] == code.as_str()
            && notification["message"]["notify_event"][0]["data"]["reg_records"]["member_identifier"]
                [0]["identifier_value"]
                == newcomer.as_str(),
        "{notification}"
    );
    drop(subscriber);
    let (ok, listed, stderr) = subscriptions(false)?;
    ensure!(
        ok && listed.contains(&code) && listed.contains("REGISTER/Member"),
        "{listed}{stderr}"
    );
    let (ok, stdout, stderr) = output(spx().args(["unsubscribe", "--url", url, &code]))?;
    ensure!(ok && stdout.contains("\"unsubscribe\""), "{stdout}{stderr}");
    let (ok, stdout, _) = output(spx().args(["unsubscribe", "--url", url, &code]))?;
    ensure!(
        !ok && stdout.contains("rjct.event.already_unsubscribed"),
        "{stdout}"
    );
    let (_, active, _) = subscriptions(false)?;
    let (_, every, _) = subscriptions(true)?;
    ensure!(
        !active.contains(&code) && every.contains(&code) && every.contains("unsubscribe"),
        "{active}\n{every}"
    );
    Ok(())
}

fn bad_configuration_is_named() -> Result<()> {
    let (ok, _, stderr) = output(
        spx()
            .args(["serve", "--role", "social"])
            .env("SPX__LIMITS__MAX_BATCH", "5"),
    )?;
    ensure!(!ok && stderr.contains("SPX__LIMITS__MAX_BATCH"), "{stderr}");
    let (ok, _, stderr) = output(spx().args(["serve", "--role", "social", "--listen", "nowhere"]))?;
    ensure!(!ok && stderr.contains("service.listen"), "{stderr}");
    let (ok, _, stderr) =
        output(spx().args(["serve", "--role", "weather", "--listen", "127.0.0.1:0"]))?;
    ensure!(!ok && stderr.contains("unknown role 'weather'"), "{stderr}");
    Ok(())
}

/// `spx serve` with `service.tls_cert` and `service.tls_key` answers over HTTPS (a client
/// that trusts the test certificate gets its JWKS), and not over plain HTTP.
fn serve_terminates_tls() -> Result<()> {
    let dir = TempDir::new("tls");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/tls");
    let mut child = spx()
        .args([
            "serve",
            "--role",
            "crvs",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&dir.0)
        .env("SPX__SERVICE__TLS_CERT", fixtures.join("cert.pem"))
        .env("SPX__SERVICE__TLS_KEY", fixtures.join("key.pem"))
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let _server = Running(child);
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("https://"))
        .ok_or_else(|| anyhow!("serve printed no https URL: {line}"))?
        .to_string();
    runtime().block_on(async {
        let cert = reqwest::Certificate::from_pem(&std::fs::read(fixtures.join("cert.pem"))?)?;
        let client = reqwest::Client::builder().tls_certs_only([cert]).build()?;
        let jwks: serde_json::Value = client
            .get(format!("{url}/.well-known/jwks.json"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ensure!(
            jwks["keys"].as_array().is_some_and(|k| !k.is_empty()),
            "{jwks}"
        );
        let plain = url.replacen("https://", "http://", 1);
        let refused = reqwest::Client::new()
            .get(format!("{plain}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        ensure!(refused.is_err(), "plain HTTP was answered: {refused:?}");
        let untrusted = reqwest::Client::builder().tls_certs_only([]).build()?;
        ensure!(
            untrusted.get(format!("{url}/health")).send().await.is_err(),
            "a client that does not trust the certificate got an answer"
        );
        Ok(())
    })?;
    let (ok, _, stderr) = output(
        spx()
            .args(["serve", "--role", "crvs", "--listen", "127.0.0.1:0"])
            .env("SPX__SERVICE__TLS_CERT", fixtures.join("cert.pem")),
    )?;
    ensure!(!ok && stderr.contains("go together"), "{stderr}");
    Ok(())
}

/// The sandbox's listening flags, each on a port free when asked.
fn sandbox_addresses() -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for flag in [
        "--listen",
        "--crvs-listen",
        "--ibr-listen",
        "--dr-listen",
        "--fr-listen",
        "--id-listen",
        "--pay-listen",
        "--mis-listen",
        "--web-listen",
        "--scenarios-listen",
    ] {
        let port = free_port()?;
        flags.push(flag.to_string());
        flags.push(format!("127.0.0.1:{port}"));
    }
    Ok(flags)
}

/// A running `spx sandbox` (served, not exiting): what it printed until it served, and the
/// addresses it was given. Dropping it stops it.
pub(crate) struct Sandbox {
    /// Its output up to and including `[sandbox] serving`.
    pub seen: String,
    addresses: Vec<String>,
    _running: Running,
}

impl Sandbox {
    /// Starts `spx sandbox --people <people>` on `dir` on free ports and waits (up to 4
    /// minutes) until it serves: generated, loaded, demonstrated, the scenarios played.
    pub(crate) fn serve(dir: &std::path::Path, people: usize) -> Result<Self> {
        let addresses = sandbox_addresses()?;
        let mut child = spx()
            .arg("sandbox")
            .args(["--people", &people.to_string()])
            .args(&addresses)
            .arg("--data-dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        // Its output is read to the end (a closed pipe would fail its later lines).
        let (sender, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().context("stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let running = Running(child);
        let mut seen = String::new();
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(240)) {
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("[sandbox] serving") {
                return Ok(Sandbox {
                    seen,
                    addresses,
                    _running: running,
                });
            }
        }
        Err(anyhow!("the sandbox did not serve:\n{seen}"))
    }

    /// The base URL of the service it was told to listen on with `flag` (`--web-listen`).
    pub(crate) fn url(&self, flag: &str) -> String {
        let at = self
            .addresses
            .iter()
            .position(|f| f == flag)
            .unwrap_or_else(|| panic!("no sandbox flag {flag}"));
        format!("http://{}", self.addresses[at + 1])
    }

    /// The pages' base URL.
    pub(crate) fn pages(&self) -> String {
        self.url("--web-listen")
    }

    /// The password of the `admin` user it printed.
    pub(crate) fn password(&self) -> Result<&str> {
        self.seen
            .split("sign in as admin, password ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .context("the admin's password")
    }
}

fn sandbox_demonstrates_runs_the_scenarios_and_exits() -> Result<()> {
    let dir = TempDir::new("sandbox");
    let mut child = spx()
        .args(["sandbox", "--people", "3000", "--run-scenarios-and-exit"])
        .args(sandbox_addresses()?)
        .arg("--data-dir")
        .arg(&dir.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "sandbox did not exit within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        status.success(),
        "sandbox failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "loaded the social registry",
        "identifier search UIN",
        "predicate search for poor widows",
        "rjct.message_ts.invalid",
        "notify NewHouseHoldMember for Amina",
        ": unsubscribe",
        "loaded the civil registry",
        "CRVS predicate search for living widows",
        "who died on",
        "notify Death for",
        "loaded the integrated beneficiary registry: 392 locations, 8 programmes,",
        r#"IBR expression search, duplicate = true AND assistance_unit = "member": HTTP 200 OK"#,
        "(real coverage): HTTP 200 OK, 2 programmes",
        "enrolled_status yes, in OAA (1)",
        ": succ; notify enrollement_status_change (status 6",
        "loaded the disability registry",
        "DR expression search, approved with a mobility impairment: HTTP 200 OK",
        "disabled_status yes",
        "notify DisabilityApproved (status 0",
        "loaded the farmer registry",
        "FR expression search, land under 2 ha in R03 growing maize: HTTP 200 OK",
        "leased irrigated parcels: HTTP 200 OK",
        "loaded the identity registry",
        "the ID registry (id.spx.local) holds its subscription to the CRVS's DEATH_REGISTERED events",
        "1 match(es); born 1900-01-01: 0",
        r#"it is shown {"@type":"Identity","identifier":[{"identifier_type":"UIN","identifier_value":"#,
        "deceased (died",
        "notify IdentityDeceased arrived",
        "payments (G2P Connect):",
        "linked to mobile wallets (5 succ)",
        "(succ.id.active)",
        "unknown rjct.payee_fa.invalid, negative rjct.amount.invalid",
        "reconciled true",
        "reached the IBR",
        "UC-01 passed: 8 of 8 checks",
        "SP-MIS OAA application of",
        "asked CRVS   Person UIN=",
        "told  IBR    enrollment/updates OAA enrolled",
        "UC-03 passed",
        "UC-02 passed",
        "UC-05 passed",
        format!("[scenarios] all {} scenarios passed", scenario::all().len()).as_str(),
        "deaths and births from the CRVS, certifications from the DR notified to",
    ] {
        ensure!(
            stdout.contains(expected),
            "sandbox output lacks '{expected}':\n{stdout}"
        );
    }
    ensure!(!stdout.contains("HTTP 5"), "{stdout}");
    // `spx ibr duplicates` lists the enrolments the DCI query for duplicates counted.
    let left: usize = stdout
        .split("IBR duplicates left: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("the duplicates left")?;
    let out = spx()
        .args(["ibr", "duplicates", "--json", "--data-dir"])
        .arg(&dir.0)
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
    let enrolments: usize = listed
        .iter()
        .map(|d| d["programmes"].as_array().map_or(0, Vec::len))
        .sum();
    ensure!(
        enrolments == left && !listed.is_empty(),
        "{enrolments} != {left}: {listed:?}"
    );
    // Started again on the same data, it reuses the population and serves; `spx scenario`
    // runs a scenario again against it, on people the SP-MIS has not seen yet.
    let sandbox = Sandbox::serve(&dir.0, 3000)?;
    ensure!(
        sandbox.seen.contains("reusing the population"),
        "{}",
        sandbox.seen
    );
    // The pages it prints: the citizen page, and the staff pages for the user it prints.
    let password = sandbox.password()?;
    let pages = sandbox.pages();
    ensure!(
        sandbox
            .seen
            .contains(&format!("citizen status {pages}/status")),
        "{}",
        sandbox.seen
    );
    crate::support::runtime().block_on(async {
        let mut browser = crate::web::Browser::new(&pages);
        let form = browser.get("/status").await?;
        ensure!(form.status == 200 && form.body.contains("My benefits"));
        ensure!(browser.sign_in("admin", password).await?.status == 303);
        let dashboard = browser.get("/dashboard").await?;
        ensure!(
            dashboard.status == 200 && dashboard.body.contains("Duplicates"),
            "{}",
            dashboard.body
        );
        // The SP-MIS of the scenarios enrolled pensioners in the old-age allowance.
        let oaa = browser.get("/programmes/OAA").await?;
        ensure!(
            oaa.status == 200 && oaa.body.contains("/programmes/OAA/beneficiaries/"),
            "{}",
            oaa.body
        );
        anyhow::Ok(())
    })?;
    // The SP-MIS's /metrics: its requests and its outbox of IBR updates.
    let mis = format!("{}/metrics", sandbox.url("--mis-listen"));
    let metrics =
        crate::support::runtime().block_on(async { reqwest::get(&mis).await?.text().await })?;
    ensure!(
        metrics.contains("# TYPE spx_requests_total counter")
            && metrics.contains("# TYPE spx_outbox_messages gauge"),
        "{metrics}"
    );
    let url = sandbox.url("--scenarios-listen");
    let (ok, again, stderr) = output(spx().args(["scenario", "uc1", "--url", &url]))?;
    ensure!(
        ok && again.contains("UC-01 passed: 8 of 8 checks") && !again.contains("UC-02"),
        "{again}{stderr}"
    );
    let (ok, _, stderr) = output(spx().args(["scenario", "UC-99", "--url", &url]))?;
    ensure!(
        !ok && stderr.contains("no scenario 'UC-99'; there are UC-01, UC-02"),
        "{stderr}"
    );
    Ok(())
}

/// Starts `spx serve` on `port` with `data`, and waits until it listens. It serves without
/// tokens or signatures: the test that uses it is about durability.
fn serve(data: &std::path::Path, port: u16) -> Result<Running> {
    let mut child = spx()
        .env("SPX__TRUST__VERIFY", "log")
        .env("SPX__TRUST__REQUIRE_TOKEN", "false")
        .args([
            "serve",
            "--role",
            "social",
            "--service-id",
            "social.test",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
    ensure!(
        line.contains("registry on http://"),
        "serve did not start: {line}"
    );
    Ok(Running(child))
}

fn pop(queue: &std::sync::Mutex<Vec<usize>>) -> Option<usize> {
    queue.lock().unwrap().pop()
}

/// A port free now for a server started later, below Linux's ephemeral range (32768 and up):
/// a port the kernel picked for `127.0.0.1:0` could be picked again, for another test's
/// listener or client, before the server binds it. Each call of this process gets a port of
/// its own.
pub(crate) fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Processes started together begin at different places of 20000..32000.
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 12;
    let _ = NEXT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    loop {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        anyhow::ensure!(port < 32_768, "no free port below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
}

fn kill_9_loses_and_repeats_no_callback() -> Result<()> {
    const REQUESTS: usize = 1000;
    let dir = TempDir::new("kill9");
    let port = free_port()?;
    let server = std::sync::Arc::new(std::sync::Mutex::new(Some(serve(&dir.0, port)?)));
    runtime().block_on(async {
        let sink = Sink::start().await?;
        let url = format!("http://127.0.0.1:{port}/registry/search");
        let bodies: Vec<serde_json::Value> = (0..REQUESTS)
            .map(|i| {
                let criteria = json!({"reg_record_type": "Member", "query_type": "idtype-value", "query": {"type": "UIN", "value": format!("{i:010}")}});
                async_envelope(vec![criteria], &sink.url())
            })
            .collect();
        let client = reqwest::Client::new();
        let acked = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<usize, String>::new()));
        // Send everything from 16 connections; kill -9 the server once 300 are acknowledged.
        let send_round = |pending: Vec<usize>, kill_after: Option<usize>| {
            let (client, url, acked, server, bodies) = (client.clone(), url.clone(), acked.clone(), server.clone(), bodies.clone());
            async move {
                let queue = std::sync::Arc::new(std::sync::Mutex::new(pending));
                let mut workers = Vec::new();
                for _ in 0..16 {
                    let (client, url, acked, server, bodies, queue) =
                        (client.clone(), url.clone(), acked.clone(), server.clone(), bodies.clone(), queue.clone());
                    workers.push(tokio::spawn(async move {
                        while let Some(i) = pop(&queue) {
                            if let Ok((200, ack)) = post_json(&client, &url, &bodies[i]).await {
                                let count = {
                                    let mut acked = acked.lock().unwrap();
                                    acked.insert(i, ack["message"]["correlation_id"].as_str().unwrap_or_default().to_string());
                                    acked.len()
                                };
                                if kill_after.is_some_and(|n| count >= n)
                                    && let Some(mut running) = server.lock().unwrap().take()
                                {
                                    running.0.kill().ok(); // SIGKILL
                                    running.0.wait().ok();
                                }
                            }
                        }
                    }));
                }
                for worker in workers {
                    worker.await.ok();
                }
            }
        };
        send_round((0..REQUESTS).collect(), Some(300)).await;
        let before_restart = acked.lock().unwrap().len();
        ensure!(before_restart < REQUESTS, "the server was not killed mid-run");
        *server.lock().unwrap() = Some(serve(&dir.0, port)?);
        // A client resends what was not acknowledged, with the same message_id.
        for _ in 0..5 {
            let missing: Vec<usize> = (0..REQUESTS).filter(|i| !acked.lock().unwrap().contains_key(i)).collect();
            if missing.is_empty() {
                break;
            }
            send_round(missing, None).await;
        }
        ensure!(acked.lock().unwrap().len() == REQUESTS, "only {} of {REQUESTS} acknowledged", acked.lock().unwrap().len());
        let transactions = |received: &[serde_json::Value]| -> std::collections::HashMap<String, std::collections::HashSet<String>> {
            let mut by_txn: std::collections::HashMap<String, std::collections::HashSet<String>> = Default::default();
            for callback in received {
                by_txn
                    .entry(callback["message"]["transaction_id"].as_str().unwrap_or_default().to_string())
                    .or_default()
                    .insert(callback["header"]["message_id"].as_str().unwrap_or_default().to_string());
            }
            by_txn
        };
        let received = sink.wait(Duration::from_secs(90), |r| transactions(r).len() >= REQUESTS).await?;
        let by_txn = transactions(&received);
        ensure!(by_txn.len() == REQUESTS, "callbacks for {} transactions", by_txn.len());
        // Exactly once as the receiver sees it: one message_id per transaction.
        let repeated: Vec<_> = by_txn.iter().filter(|(_, ids)| ids.len() != 1).collect();
        ensure!(repeated.is_empty(), "transactions answered by several messages: {repeated:?}");
        let acked = acked.lock().unwrap();
        for (i, body) in bodies.iter().enumerate() {
            let txn = body["message"]["transaction_id"].as_str().unwrap_or_default();
            let callback = received.iter().find(|c| c["message"]["transaction_id"] == txn).unwrap();
            ensure!(callback["message"]["correlation_id"] == acked[&i].as_str(), "request {i}: ACK and callback disagree");
        }
        println!("kill -9 after {before_restart} of {REQUESTS} acknowledged; {} deliveries for {REQUESTS} callbacks", received.len());
        let (ok, listed, stderr) = output(spx().args(["outbox", "list", "--state", "delivered", "--limit", "3", "--data-dir"]).arg(&dir.0))?;
        ensure!(ok && listed.contains("3 message(s)") && listed.matches("delivered").count() >= 3, "{listed}{stderr}");
        let (ok, _, stderr) = output(spx().args(["outbox", "list", "--state", "lost", "--data-dir"]).arg(&dir.0))?;
        ensure!(!ok && stderr.contains("not pending, delivered or dead"), "{stderr}");
        Ok(())
    })
}

/// Entries appended through the API; `spx audit verify` and `who-saw` on them; an entry edited
/// in the SQLite file, and verify names it.
fn audit_verify_names_an_edited_entry() -> Result<()> {
    use store::audit::{AuditLog, Entry, Head};

    const UIN: &str = "1234567890";
    let dir = TempDir::new("audit");
    let config = store::StoreConfig {
        sqlite_path: dir.0.join("social.db"),
        sqlite_readers: 1,
        database_url: None,
        postgres_pool_size: 1,
    };
    // Entries 3, 6 and 9 (of 10) disclose the person.
    let heads: Vec<Head> = runtime().block_on(async {
        let profile = registry::profile("social").context("the social profile")?;
        let log = AuditLog::new(registry::open_store(profile, &config).await?);
        let mut heads = Vec::new();
        for i in 1..=10i64 {
            let mut disclosed = vec![format!("Member:M-{i:06}")];
            if i % 3 == 0 {
                disclosed.push(format!("UIN:{UIN}"));
            }
            heads.push(
                log.append(Entry {
                    at: time::OffsetDateTime::now_utc(),
                    participant: Some(format!("mis.{}", i % 2)),
                    endpoint: "/registry/sync/search".into(),
                    action: Some("search".into()),
                    message_id: Some(format!("msg-{i}")),
                    transaction_id: Some(format!("txn-{i}")),
                    correlation_id: None,
                    outcome: "succ".into(),
                    status: 200,
                    duration: Duration::from_micros(800),
                    disclosed,
                })
                .await?,
            );
        }
        Ok::<_, anyhow::Error>(heads)
    })?;
    let audit = |args: &[&str]| output(spx().arg("audit").args(args).arg("--data-dir").arg(&dir.0));
    let head = heads[9];
    let (ok, stdout, stderr) = audit(&["verify"])?;
    ensure!(
        ok && stdout.contains("10 entries, intact") && stdout.contains(&format!("head {head}")),
        "{stdout}{stderr}"
    );
    let (ok, stdout, stderr) = audit(&["verify", "--anchor", &head.to_string()])?;
    ensure!(ok, "{stdout}{stderr}");

    let (ok, stdout, stderr) = audit(&["who-saw", UIN])?;
    ensure!(ok, "{stderr}");
    let listed: Vec<&str> = stdout
        .lines()
        .skip(1)
        .take_while(|line| !line.contains("disclosure(s)"))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    ensure!(
        listed == ["3", "6", "9"] && stdout.contains(&format!("3 disclosure(s) of UIN:{UIN}")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = audit(&["who-saw", "Member:M-000004", "--json"])?;
    ensure!(ok, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).context("who-saw --json")?;
    let entries = answer["entries"].as_array().context("entries")?;
    ensure!(
        entries.len() == 1
            && entries[0]["seq"] == 4
            && entries[0]["participant"] == "mis.0"
            && entries[0]["hash"] == heads[3].hash.to_string().as_str(),
        "{stdout}"
    );

    let db = rusqlite::Connection::open(dir.0.join("social.db"))?;
    db.execute(
        "UPDATE audit_log SET participant = 'someone.else' WHERE seq = 5",
        [],
    )?;
    drop(db);
    let (ok, _, stderr) = audit(&["verify"])?;
    ensure!(
        !ok && stderr.contains("entry 5 is bad")
            && stderr.contains("edited")
            && stderr.contains("the 4 entries before it verify"),
        "{stderr}"
    );
    let (ok, stdout, _) = audit(&["verify", "--json"])?;
    let report: serde_json::Value = serde_json::from_str(&stdout).context("verify --json")?;
    ensure!(
        !ok && report["intact"] == false && report["seq"] == 5 && report["fault"] == "edited",
        "{stdout}"
    );
    Ok(())
}
