"""Render tier: real Salt renders every SLS for the example site and its
variants; the generated configs pass Debian 12's real checkers; every secret
is read back intact by the program that consumes it; every validation rule
stops a bad pillar with its message, which holds no secret."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests import checkers
from tests.badpillars import BAD_PILLARS, CANARY, bad_pillar
from tests.badpillars import secret_values as bad_pillar_secrets
from tests.render.conftest import example
from tests.saltrender import ROOT, Renderer, RenderError, sls_names

VARIANTS = ("example", "keepalived", "one_network", "five_nodes", "tls", "hostile")
ALL_SLS = sls_names()
# Where the formula keeps its state (keepalived's track file): made before keepalived.conf.
STATE_DIR = "/var/lib/prereqos"


def site(pillar: dict) -> dict:
    return pillar["prereqos"]


def interfaces_of(pillar: dict, node_id: str) -> dict[str, str]:
    """{interface: address/prefix} of a controller, for the namespace checkers."""
    nets = site(pillar)["networks"]
    node = next(n for n in site(pillar)["controllers"] if n["id"] == node_id)
    return {net["interface"]: f"{node['addresses'][name]}/{net['cidr'].split('/')[1]}" for name, net in nets.items()}


def secret_values(pillar: dict) -> list[str]:
    """Every secret, and the runs of letters and digits in it: found however it was escaped."""
    secrets = site(pillar)["secrets"]
    values = [v for k, v in secrets.items() if isinstance(v, str) and k != "tls_pem"]
    values += list(secrets.get("rabbitmq_users", {}).values())
    return values + [run for value in values for run in re.findall(r"[A-Za-z0-9]{8,}", value)]


# What the orchestrations pass to the steps of planned maintenance.
DRAIN_CTRL_2 = {"prereqos_maintenance": {"node": "ctrl-2", "action": "drain"}}


def pillar_of(sls: str, pillar: dict) -> dict:
    """``pillar`` as the orchestration passes it to ``sls``."""
    return {**pillar, **DRAIN_CTRL_2} if sls.startswith("prereqos.maintenance.") else pillar


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("sls", ALL_SLS)
def test_every_sls_renders(renderers, variants, variant, sls):
    pillar = pillar_of(sls, variants[variant])
    if sls == "prereqos.maintenance.vips":
        # Under keepalived only the drained controller runs it: drain the renderer's own.
        pillar = {**pillar, "prereqos_maintenance": {"node": "ctrl-1", "action": "drain"}}
    high = renderers["ctrl-1"].sls(sls, pillar)
    assert high, f"{sls} rendered to nothing"
    text = json.dumps(high)
    for secret in secret_values(variants[variant]):
        assert secret not in text, f"a secret appears in the high data of {sls}"


@pytest.mark.parametrize("node", ["ctrl-2", "ctrl-3"])
def test_other_nodes_render_their_own_view(renderers, variants, node):
    high = renderers[node].sls("prereqos", variants["example"])
    assert "prereqos-galera-member" in high
    config = renderers[node].template("prereqos/galera/files/galera.cnf.jinja", variants["example"])
    own = next(n for n in site(variants["example"])["controllers"] if n["id"] == node)["addresses"]["srv"]
    assert f"bind-address = {own}" in config
    assert f"wsrep_node_address = {own}" in config


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_haproxy_cfg_passes_haproxy_check(renderers, variants, variant, release):
    config = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", variants[variant])
    code, output = checkers.haproxy(config, release=release)
    assert code == 0, output
    assert "[WARNING]" not in output, output
    assert "[ALERT]" not in output, output
    assert site(variants[variant])["secrets"]["haproxy_stats_password"] not in config
    galera = config.split("listen galera", 1)[1].split("\nlisten ", 1)[0]
    servers = [line for line in galera.splitlines() if line.strip().startswith("server ")]
    assert len(servers) == len(site(variants[variant])["controllers"])
    assert not servers[0].endswith(" backup") and all(s.endswith(" backup") for s in servers[1:])
    assert "port 9200" in servers[0]


def test_tls_frontends_terminate_tls(renderers, variants):
    config = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", variants["tls"])
    keystone = config.split("listen keystone", 1)[1].split("\nlisten ", 1)[0]
    assert keystone.count(" ssl crt ") == 2
    glance = config.split("listen glance_api", 1)[1].split("\nlisten ", 1)[0]
    assert " ssl " not in glance


@pytest.mark.parametrize("variant", ["keepalived", "tls", "one_network"])
@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_keepalived_conf_passes_keepalived_check_on_every_node(renderers, variants, variant, release):
    pillar = {**variants[variant], "prereqos": {**site(variants[variant]), "vip_manager": "keepalived"}}
    priorities = set()
    for node in site(pillar)["controllers"]:
        config = renderers[node["id"]].template("prereqos/ha/files/keepalived.conf.jinja", pillar)
        code, output = checkers.keepalived(
            config, interfaces_of(pillar, node["id"]), release=release, state_dir=STATE_DIR
        )
        assert code == 0, output
        assert "state BACKUP" in config and "state MASTER" not in config
        priorities.update(re.findall(r"priority (\d+)", config))
        instances = re.findall(r"vrrp_instance \w+?_(\w+) \{.*?unicast_peer \{([^}]*)\}", config, re.S)
        assert {net for net, _ in instances} == set(site(pillar)["networks"])
        for net, peers in instances:
            others = [n["addresses"][net] for n in site(pillar)["controllers"] if n["id"] != node["id"]]
            assert peers.split() == others
    assert len(priorities) == len(site(pillar)["controllers"]), "priorities must differ between nodes"


@pytest.mark.parametrize("variant", ["example", "five_nodes", "one_network"])
@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_corosync_conf_passes_corosync_check(renderers, variants, corosync_key, variant, release):
    pillar = variants[variant]
    config = renderers["ctrl-1"].template("prereqos/ha/files/corosync.conf.jinja", pillar)
    code, output = checkers.corosync(config, corosync_key, interfaces_of(pillar, "ctrl-1"), release=release)
    assert code == 0, output
    assert "crypto_cipher: aes256" in config and "crypto_hash: sha256" in config
    assert "transport: knet" in config
    assert config.count("ring0_addr:") == len(site(pillar)["controllers"])


@pytest.mark.parametrize("variant", ["example", "one_network"])
@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_apache_config_passes_apache2ctl(renderers, variants, variant, release):
    renderer = renderers["ctrl-1"]
    files = {
        "ports.conf": renderer.template("prereqos/apache/files/ports.conf.jinja", variants[variant]),
        "sites-available/000-default.conf": renderer.template(
            "prereqos/apache/files/site.conf.jinja", variants[variant]
        ),
    }
    code, output = checkers.apache(files, release=release)
    assert code == 0 and "Syntax OK" in output, output
    assert "Listen 192.0.2.11:80" in files["ports.conf"]
    assert "Listen 80" not in files["ports.conf"]


def test_openrc_quotes_the_password_for_the_shell(renderers):
    pillar = example()
    site(pillar)["secrets"]["openrc_admin_password"] = "it's $ecret"
    text = renderers["ctrl-1"].template("prereqos/openrc/files/admin-openrc.jinja", pillar)
    assert "export OS_PASSWORD='it'\\''s $ecret'" in text
    assert "export OS_AUTH_URL=http://198.51.100.10:5000/v3" in text


# ---------------------------------------------- secrets, read back by their consumers
@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_sst_credentials_read_back_by_mariadb(renderers, variants, release):
    pillar = variants["hostile"]
    text = renderers["ctrl-1"].template("prereqos/galera/files/sst.cnf.jinja", pillar)
    expected = f"sst:{site(pillar)['secrets']['db_sst_password']}"
    assert checkers.mariadb_options(text, "galera", release=release) == [f"--wsrep_sst_auth={expected}"]


@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_the_longest_sst_password_still_reads_back(renderers, release):
    pillar = example()
    room = 4094 - len('wsrep_sst_auth = "sst:"')
    site(pillar)["secrets"]["db_sst_password"] = "#" * room
    text = renderers["ctrl-1"].template("prereqos/galera/files/sst.cnf.jinja", pillar)
    assert checkers.mariadb_options(text, "galera", release=release) == [f"--wsrep_sst_auth=sst:{'#' * room}"]


@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_openrc_read_back_by_bash(renderers, variants, release):
    pillar = variants["hostile"]
    site(pillar)["openrc"]["project_name"] = "it's a $project"
    text = renderers["ctrl-1"].template("prereqos/openrc/files/admin-openrc.jinja", pillar)
    values = checkers.shell_variables(
        text, ["OS_PASSWORD", "OS_PROJECT_NAME", "OS_AUTH_URL", "OS_REGION_NAME"], release=release
    )
    assert values == {
        "OS_PASSWORD": site(pillar)["secrets"]["openrc_admin_password"],
        "OS_PROJECT_NAME": "it's a $project",
        "OS_AUTH_URL": "http://198.51.100.10:5000/v3",
        "OS_REGION_NAME": "RegionOne",
    }


@pytest.mark.parametrize("variant", ["example", "hostile"])
def test_stats_password_accepted_by_haproxy(renderers, variants, variant):
    pillar = variants[variant]
    config = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", pillar)
    userlist = config.split("userlist ", 1)[1].split("\n\n", 1)[0]
    password = site(pillar)["secrets"]["haproxy_stats_password"]
    statuses = checkers.haproxy_basic_auth(f"userlist {userlist}", "prereqos_stats", "admin", [password, "wrong"])
    assert statuses == [200, 401]


# ----------------------------------------------------------------- the facts file
def state_args(high: dict, state_id: str) -> dict:
    """The arguments of a state in high data, as one mapping."""
    body = high[state_id]
    function = next(key for key in body if not key.startswith("__"))
    return {k: v for arg in body[function] if isinstance(arg, dict) for k, v in arg.items()}


def own_renderer(minion_id: str, tmp_path) -> Renderer:
    """A renderer used for one SLS only: once another minion's renderer ran in this
    process, state.show_sls may render with that minion's grains (templates are fine)."""
    return Renderer(minion_id, tmp_path)


@pytest.mark.parametrize("variant", ["example", "keepalived", "hostile"])
def test_the_deploy_writes_the_non_secret_facts(renderers, variants, variant, tmp_path):
    pillar = variants[variant]
    for sls in ("prereqos", "prereqos.ha"):
        assert "prereqos-facts" in renderers["ctrl-1"].sls(sls, pillar)
    args = state_args(own_renderer("ctrl-1", tmp_path).sls("prereqos.facts", pillar), "prereqos-facts")
    assert args["name"] == "/etc/prereqos/facts.json" and args["mode"] == "0644" and args["serializer"] == "json"
    facts = args["dataset"]
    assert facts["node"]["id"] == "ctrl-1" and facts["vip_manager"] == site(pillar)["vip_manager"]
    assert facts["rabbitmq_nodes"] == [f"rabbit@{n['id']}" for n in site(pillar)["controllers"]]
    text = json.dumps(facts, ensure_ascii=False)
    assert not [secret for secret in secret_values(pillar) if secret in text]


def test_preflight_gets_the_pillars_expectation_of_this_node(variants, tmp_path):
    high = own_renderer("ctrl-2", tmp_path).sls("prereqos.preflight", variants["example"])
    args = state_args(high, "prereqos-preflight")
    assert args["node"]["hostname"] == "ctrl-2"
    assert args["node"]["networks"]["api"] == {
        "interface": "eth1",
        "address": "198.51.100.12",
        "vip": "198.51.100.10",
        "peers": ["198.51.100.11", "198.51.100.13"],
    }


@pytest.mark.parametrize("case", sorted(BAD_PILLARS))
def test_bad_pillar_stops_the_render_with_its_key(renderers, case):
    pillar, message = bad_pillar(case, example())
    with pytest.raises(RenderError) as error:
        renderers["ctrl-1"].sls("prereqos.preflight", pillar)
    assert message in str(error.value)
    assert CANARY not in str(error.value)
    assert not [value for value in bad_pillar_secrets(pillar) if value in str(error.value)]


def installs(high: dict) -> list[tuple[str, list[str], bool]]:
    """``(state id, packages, install_recommends)`` of every pkg.installed in high data."""
    out = []
    for sid, body in high.items():
        for arg in body.get("pkg", []):
            if isinstance(arg, dict) and "pkgs" in arg:
                args = {k: v for a in body["pkg"] if isinstance(a, dict) for k, v in a.items()}
                out.append((sid, args["pkgs"], args.get("install_recommends", True)))
    return out


def test_packages_install_without_recommends_and_fence_agents_only_with_fencing(renderers, variants):
    high = renderers["ctrl-1"].sls("prereqos", variants["example"])
    found = installs(high)
    assert len(found) >= 6 and all(recommends is False for _, _, recommends in found), found
    assert not any("fence-agents" in pkgs for _, pkgs, _ in found)
    pillar = example()
    site(pillar)["pacemaker"]["stonith"] = {
        "enabled": True,
        "devices": {"fence-ctrl-1": {"agent": "stonith:fence_ipmilan", "params": {"pcmk_host_list": "ctrl-1"}}},
    }
    pacemaker = dict((sid, pkgs) for sid, pkgs, _ in installs(renderers["ctrl-1"].sls("prereqos.ha", pillar)))
    assert "fence-agents" in pacemaker["prereqos-pacemaker-installed"]


def test_corosync_starts_once_with_our_config_and_key(renderers, variants):
    """The key and corosync.conf are written before the package starts corosync: no restart on a fresh node."""
    high = renderers["ctrl-1"].sls("prereqos.ha", variants["example"])
    installed = high["prereqos-pacemaker-installed"]["pkg"]
    requires = [r for arg in installed if isinstance(arg, dict) for r in arg.get("require", [])]
    assert {"file": "prereqos-corosync-config"} in requires
    config = {k: v for arg in high["prereqos-corosync-config"]["file"] if isinstance(arg, dict) for k, v in arg.items()}
    assert config["makedirs"] is True and {"file": "prereqos-corosync-authkey"} in config["require"]


@pytest.mark.parametrize(
    ("release", "present", "absent"),
    [
        ("13", ["default_queue_type = quorum", "transaction_isolation = READ-COMMITTED"], ["proxy-uwsgi"]),
        ("12", ["libapache2-mod-proxy-uwsgi"], ["default_queue_type", "transaction_isolation"]),
    ],
)
def test_each_release_gets_its_own_packages_and_settings(variants, tmp_path, release, present, absent):
    """osreleasemap.yaml: Debian 13's RabbitMQ 4.0 and MariaDB 11.8 defaults; Debian 12's separate uwsgi proxy."""
    renderer = Renderer("ctrl-1", tmp_path, release=release)
    pillar = variants["example"]
    text = "\n".join(
        [
            json.dumps(renderer.sls("prereqos.apache", pillar)),
            renderer.template("prereqos/rabbitmq/files/rabbitmq.conf.jinja", pillar),
            renderer.template("prereqos/galera/files/galera.cnf.jinja", pillar),
        ]
    )
    assert all(line in text for line in present), present
    assert not any(line in text for line in absent), absent


# ------------------------------------------------------------ maintenance


def test_a_maintenance_step_outside_an_orchestration_says_how_to_run_it(renderers, variants):
    with pytest.raises(RenderError, match=r"run it through orch\.prereqos_drain"):
        renderers["ctrl-1"].sls("prereqos.maintenance.vips", variants["example"])


def test_a_maintenance_step_for_an_unknown_node_names_the_controllers(renderers, variants):
    pillar = {**variants["example"], "prereqos_maintenance": {"node": "ctrl-9", "action": "drain"}}
    with pytest.raises(RenderError, match=r"'ctrl-9' is not a controller \(ctrl-1, ctrl-2, ctrl-3\)"):
        renderers["ctrl-1"].sls("prereqos.maintenance.haproxy", pillar)


@pytest.mark.parametrize("variant", ["example", "keepalived"])
def test_a_rolling_restart_restarts_or_after_a_reboot_starts_the_same_services_mariadb_first(
    renderers, variants, variant
):
    """HAProxy is keepalived's to restart (pacemaker runs it as a resource); the reboot
    is deferred so that the step's result reaches the master first."""
    pillar = pillar_of("prereqos.maintenance.restart", variants[variant])
    units = ["mariadb", "rabbitmq-server", "apache2"] + (["haproxy"] if variant == "keepalived" else [])
    restart = renderers["ctrl-2"].sls("prereqos.maintenance.restart", pillar)
    systemctl = restart[f"prereqos-maintenance-restart-{units[0]}"]["cmd"][0]["name"].split()[0]
    assert systemctl in ("/bin/systemctl", "/usr/bin/systemctl")  # by release: see osreleasemap.yaml
    assert [restart[f"prereqos-maintenance-restart-{unit}"]["cmd"][0]["name"] for unit in units] == [
        f"{systemctl} restart {unit}" for unit in units
    ]
    start = renderers["ctrl-2"].sls("prereqos.maintenance.start", pillar)
    assert list(start) == [f"prereqos-maintenance-start-{unit}" for unit in units]
    assert start["prereqos-maintenance-start-apache2"]["service"][1] == {
        "require": [{"service": "prereqos-maintenance-start-rabbitmq-server"}]
    }
    reboot = renderers["ctrl-2"].sls("prereqos.maintenance.reboot", pillar)
    assert reboot["prereqos-maintenance-reboot"]["cmd"][0]["name"] == (
        "/usr/bin/systemd-run --on-active=2 --timer-property=AccuracySec=100ms"
        f" --unit=prereqos-maintenance-reboot {systemctl} reboot"
    )


@pytest.mark.parametrize("release", checkers.RELEASES, ids=lambda r: f"debian{r}")
def test_a_drained_controllers_servers_are_disabled_in_haproxy_cfg(renderers, variants, release):
    """What the drain step renders (and every re-run after it, from the record)."""
    config = renderers["ctrl-1"].template(
        "prereqos/ha/files/haproxy.cfg.jinja", pillar_of("prereqos.maintenance.x", variants["example"])
    )
    code, output = checkers.haproxy(config, release=release)
    assert code == 0 and "[WARNING]" not in output, output
    servers = [line.split() for line in config.splitlines() if line.strip().startswith("server ")]
    assert servers and all((words[1] == "ctrl-2") == (words[-1] == "disabled") for words in servers)


@pytest.mark.parametrize("variant", VARIANTS)
def test_haproxy_reloads_for_its_config_but_not_for_a_drain(renderers, variants, variant):
    """haproxy reloads when the copy without the drained servers' marks changes: not for a
    drain or an undrain (the runtime API sets those; a reload's previous process would cut
    its sessions at hard-stop-after), for any other change, and for a new certificate."""
    pillar = pillar_of("prereqos.maintenance.x", variants[variant])
    marked = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", pillar)
    undrained = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", pillar, {"undrained": True})
    unmarked = renderers["ctrl-1"].template("prereqos/ha/files/haproxy.cfg.jinja", variants[variant])
    assert " disabled" in marked and undrained == unmarked
    high = renderers["ctrl-1"].sls("prereqos.ha.haproxy", variants[variant])
    copy = {
        key: value
        for entry in high["prereqos-haproxy-undrained-config"]["file"]
        if isinstance(entry, dict)
        for key, value in entry.items()
    }
    assert copy["source"] == "salt://prereqos/ha/files/haproxy.cfg.jinja" and copy["context"] == {"undrained": True}
    # keepalived: service.running reloads; pacemaker (which starts haproxy): a command.
    reload_state, reload_function = (
        ("prereqos-haproxy-reloaded", "cmd")
        if "prereqos-haproxy-reloaded" in high
        else ("prereqos-haproxy-running", "service")
    )
    arguments = [entry for entry in high[reload_state][reload_function] if isinstance(entry, dict)]
    triggers = [entry[key] for entry in arguments for key in ("watch", "onchanges") if key in entry]
    certificate = [{"file": "prereqos-haproxy-tls-pem"}] if variant == "tls" else []
    assert triggers == [[{"file": "prereqos-haproxy-undrained-config"}, *certificate]], triggers


@pytest.mark.parametrize(
    ("variant", "action", "node", "states"),
    [
        ("example", "drain", "ctrl-1", ["prereqos-maintenance-vips", "prereqos-maintenance-orphaned-sessions"]),
        ("example", "drain", "ctrl-2", ["prereqos-maintenance-orphaned-sessions"]),
        ("example", "undrain", "ctrl-1", ["prereqos-maintenance-vips"]),
        ("keepalived", "drain", "ctrl-1", ["prereqos-maintenance-vips", "prereqos-maintenance-orphaned-sessions"]),
        ("keepalived", "drain", "ctrl-2", ["prereqos-maintenance-orphaned-sessions"]),
        ("keepalived", "undrain", "ctrl-1", ["prereqos-maintenance-vips"]),
    ],
)
def test_the_vips_step_of_a_drain_ends_orphaned_sessions_on_every_controller(
    renderers, variants, variant, action, node, states
):
    """What ctrl-1 runs when ``node`` is drained: the drained controller releases its
    VIPs; every controller (the orchestration targets them all) ends the idle sessions
    from it once another holds them."""
    pillar = {**variants[variant], "prereqos_maintenance": {"node": node, "action": action}}
    high = renderers["ctrl-1"].sls("prereqos.maintenance.vips", pillar)
    assert sorted(high) == sorted(states)
    if "prereqos-maintenance-orphaned-sessions" in high:
        sweep = state_args(high, "prereqos-maintenance-orphaned-sessions")
        drained = next(n for n in variants[variant]["prereqos"]["controllers"] if n["id"] == node)
        # The Galera network's address: haproxy connects to MariaDB from there.
        assert (sweep["name"], sweep["hostname"], sweep["address"]) == (node, node, drained["addresses"]["srv"])
        # The drained controller releases its VIPs beside its sweep: it may be the Galera writer.
        assert "require" not in sweep
    if "prereqos-maintenance-vips" in high:
        assert state_args(high, "prereqos-maintenance-vips")["parallel"] is True


def test_the_drain_step_drains_at_run_time_before_the_config_says_so(renderers, variants):
    high = renderers["ctrl-1"].sls(
        "prereqos.maintenance.haproxy", pillar_of("prereqos.maintenance.haproxy", variants["keepalived"])
    )
    servers = state_args(high, "prereqos-maintenance-haproxy-servers")
    assert servers["name"] == "ctrl-2" and servers["drained"] is True
    assert {"file": "prereqos-maintenance-record"} in servers["require_in"]
    assert state_args(high, "prereqos-maintenance-record")["dataset"] == {"drained": ["ctrl-2"]}


@pytest.mark.parametrize(
    ("action", "node", "moved"),
    [("drain", "ctrl-1", True), ("drain", "ctrl-2", False), ("undrain", "ctrl-2", True), ("undrain", "ctrl-1", False)],
)
def test_the_writers_sessions_move_between_transactions(renderers, variants, action, node, moved):
    """What ctrl-1 runs in the HAProxy step: drained, its sessions move as the others drain
    its servers; when another comes back, those here move once this HAProxy has it back."""
    pillar = {**variants["example"], "prereqos_maintenance": {"node": node, "action": action}}
    high = renderers["ctrl-1"].sls("prereqos.maintenance.haproxy", pillar)
    state = high.get("prereqos-maintenance-proxied-sessions-moved")
    assert (state is not None) == moved
    if moved:
        arguments = {
            key: value for entry in state["prereqos"] if isinstance(entry, dict) for key, value in entry.items()
        }
        order = "require_in" if action == "drain" else "require"
        assert arguments[order] == [{"prereqos": "prereqos-maintenance-haproxy-servers"}]
        assert arguments["drained"] is (action == "drain") and arguments["listener"] == "galera"
        # The controllers' addresses on the internal network (srv), where their HAProxies connect from.
        controllers = variants["example"]["prereqos"]["controllers"]
        assert [(p["name"], p["address"]) for p in arguments["proxies"]] == [
            (c["id"], c["addresses"]["srv"]) for c in controllers
        ]


# ----------------------------------------------------------------- the module sync
def test_the_sync_checks_every_state_module_of_the_formula():
    """sync.sls names each of _states/ (together they import every _utils module)."""
    text = (ROOT / "formula" / "prereqos" / "sync.sls").read_text()
    listed = re.search(r"set state_modules = (\[.*\])", text).group(1)
    assert sorted(json.loads(listed)) == sorted(path.stem for path in (ROOT / "_states").glob("*.py"))


def test_the_sync_reports_no_change_when_the_modules_load(tmp_path):
    high = own_renderer("ctrl-1", tmp_path).sls("prereqos.sync", {})
    assert list(high) == ["prereqos-modules-synced"]


def test_the_sync_refuses_when_a_state_module_does_not_load(tmp_path):
    states = tmp_path / "states"
    shutil.copytree(ROOT / "_states", states)
    (states / "rabbitmq_cluster.py").unlink()
    with pytest.raises(RenderError) as refused:
        Renderer("ctrl-1", tmp_path, states_dir=states).sls("prereqos.sync", {})
    message = str(refused.value)
    assert "rabbitmq_cluster did not load on ctrl-1" in message
    assert "salt-run fileserver.clear_file_list_cache" in message
