"""Converge three fresh controllers with the real orchestration, then prove it.

The tests of one VIP manager run in this file's order on one test bed: the
read-only checks first, then the re-runs (which must change nothing), then a
pillar change (which must change exactly that).
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Collection

import pytest

from tests.testbed import gitfs
from tests.testbed.clients import PROBE_DB, consume, publish, queue_depth, write_rows
from tests.testbed.cluster import GITFS_MANAGERS, Cluster, Run
from tests.testbed.harness import MASTER, poll
from tests.testbed.site import HOSTNAME_PORT, HOSTNAME_SOURCE_PORT

PROBE_MESSAGES = 20
PROBE_ROWS = 10
# A default of defaults.yaml a gitfs update changes (line before, line after).
GITFS_DEFAULT_CHANGE = ("  retries: 3\n", "  retries: 4\n")


# ------------------------------------------------------------ the converge


@pytest.mark.every_release
def test_prediction_on_fresh_controllers_changes_nothing(cluster: Cluster) -> None:
    run = cluster.runs["fresh-test"]
    assert run.rc == 0, run.report()
    assert not [s.id for s in run.steps if s.result is False], run.report()
    # Every controller is predicted to change, and nothing was installed.
    assert sorted(run.changed) == cluster.controllers, run.changed
    assert cluster.installed_after_prediction == dict.fromkeys(cluster.controllers, False)


@pytest.mark.every_release
def test_orchestration_converges_fresh_controllers(cluster: Cluster) -> None:
    run = cluster.runs["cold"]
    assert run.rc == 0 and all(step.result is True for step in run.steps), run.report()
    assert sorted(run.changed) == cluster.controllers


@pytest.mark.every_release
def test_each_vip_is_on_exactly_one_controller(cluster: Cluster) -> None:
    holders = cluster.vip_holders()
    assert all(len(nodes) == 1 for nodes in holders.values()), holders


@pytest.mark.every_release
@pytest.mark.parametrize("network", ["srv", "api"])
def test_haproxy_round_robins_across_all_controllers(cluster: Cluster, network: str) -> None:
    vip = cluster.site["networks"][network]["vip"]
    answers = Counter(cluster.http(f"http://{vip}:{HOSTNAME_PORT}/")[1].strip() for _ in range(9))
    assert set(answers) == set(cluster.controllers), answers
    assert max(answers.values()) - min(answers.values()) <= 1, answers


def test_balance_source_pins_a_client_to_one_backend(cluster: Cluster) -> None:
    vip = cluster.site["networks"]["srv"]["vip"]
    answers = {cluster.http(f"http://{vip}:{HOSTNAME_SOURCE_PORT}/")[1].strip() for _ in range(6)}
    assert len(answers) == 1 and answers <= set(cluster.controllers), answers


def test_stats_page_answers_only_with_the_pillar_credentials(cluster: Cluster) -> None:
    stats = {"port": 1936, "user": "admin", **cluster.site["haproxy"].get("stats", {})}
    vip = cluster.site["networks"]["srv"]["vip"]
    url = f"http://{vip}:{stats['port']}/"
    password = cluster.site["secrets"]["haproxy_stats_password"]
    assert cluster.http(url)[0] == 401
    assert cluster.http(url, "-u", f"{stats['user']}:wrong-{password}")[0] == 401
    status, body = cluster.http(url + ";csv", "-u", f"{stats['user']}:{password}")
    assert status == 200 and body.startswith("# pxname,svname"), body[:200]
    status, body = cluster.http(url + "metrics", "-u", f"{stats['user']}:{password}")
    assert status == 200 and "haproxy_process_" in body, body[:200]


def test_vip_manager_reports_a_healthy_cluster(cluster: Cluster) -> None:
    if cluster.vip_manager == "pacemaker":
        _assert_pacemaker(cluster)
    else:
        _assert_keepalived(cluster)


def _assert_pacemaker(cluster: Cluster) -> None:
    status = ET.fromstring(cluster.tb.exec("ctrl-1", ["crm_mon", "--output-as=xml"], check=True).stdout)
    nodes = {n.get("name"): n.get("online") for n in status.find("nodes")}
    assert nodes == dict.fromkeys(cluster.controllers, "true"), nodes
    assert status.find("summary/current_dc").get("with_quorum") == "true"
    resources = {}
    for rsc in status.find("resources").iter("resource"):
        resources.setdefault(rsc.get("id"), []).extend(n.get("name") for n in rsc.iter("node"))
        assert rsc.get("role") == "Started" and rsc.get("failed") == "false", ET.tostring(rsc)
    assert sorted(resources["haproxy"]) == cluster.controllers, resources
    holders = cluster.vip_holders()
    for name in cluster.site["networks"]:
        assert resources[f"vip_{name}"] == holders[name], (resources, holders)
    constraints = ET.fromstring(cluster.tb.exec("ctrl-1", ["cibadmin", "-Q", "-o", "constraints"], check=True).stdout)
    colocations = {(c.get("rsc"), c.get("with-rsc"), c.get("score")) for c in constraints.iter("rsc_colocation")}
    orders = {(o.get("first"), o.get("then")) for o in constraints.iter("rsc_order")}
    for name in cluster.site["networks"]:
        assert (f"vip_{name}", "haproxy-clone", "INFINITY") in colocations, colocations
        assert ("haproxy-clone", f"vip_{name}") in orders, orders
    crm_config = cluster.tb.exec("ctrl-1", ["cibadmin", "-Q", "-o", "crm_config"], check=True).stdout
    assert 'name="stonith-enabled" value="false"' in crm_config  # the pillar's explicit choice


def _assert_keepalived(cluster: Cluster) -> None:
    states: dict[str, Counter] = {}
    for node in cluster.controllers:
        for instance, state in _keepalived_states(cluster, node).items():
            states.setdefault(instance, Counter())[state] += 1
    assert len(states) == len(cluster.site["networks"]), states
    for instance, counts in states.items():
        assert counts == Counter({"MASTER": 1, "BACKUP": 2}), (instance, counts)


def _keepalived_states(cluster: Cluster, node: str) -> dict[str, str]:
    """VRRP instance -> state, from keepalived's own data dump (SIGUSR1)."""
    script = "rm -f /tmp/keepalived.data; systemctl kill -s USR1 keepalived; sleep 0.5; cat /tmp/keepalived.data"
    text = cluster.tb.sh(node, script, check=True).stdout
    states, instance = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("VRRP Instance = "):
            instance = line.split("=", 1)[1].strip()
        elif instance and line.startswith("State = "):
            states[instance] = line.split("=", 1)[1].strip()
            instance = None
    return states


@pytest.mark.every_release
def test_rabbitmq_is_one_cluster_with_the_pillar_objects(cluster: Cluster) -> None:
    status = cluster.rabbitmqctl("ctrl-2", "cluster_status")
    expected = sorted(f"rabbit@{node}" for node in cluster.controllers)
    assert sorted(status["running_nodes"]) == expected, status
    assert not any(status.get("partitions") or {}), status["partitions"]
    users = {u["user"]: u for u in cluster.rabbitmqctl("ctrl-3", "list_users")}
    assert "guest" not in users and set(cluster.site["rabbitmq"]["users"]) <= set(users), users
    vhosts = {v["name"] for v in cluster.rabbitmqctl("ctrl-3", "list_vhosts")}
    assert set(cluster.site["rabbitmq"]["vhosts"]) <= vhosts
    policies = {p["name"] for p in cluster.rabbitmqctl("ctrl-3", "list_policies")}
    assert set(cluster.site["rabbitmq"]["policies"]) <= policies


def test_amqp_client_publishes_and_consumes_through_the_cluster(cluster: Cluster) -> None:
    """Publish with confirms on ctrl-1 into a quorum queue, consume on ctrl-3."""
    publish(cluster, "ctrl-1", PROBE_MESSAGES)
    assert queue_depth(cluster) == PROBE_MESSAGES
    assert consume(cluster, "ctrl-3") == [str(i) for i in range(PROBE_MESSAGES)]


@pytest.mark.every_release
def test_galera_is_one_synced_primary_cluster(cluster: Cluster) -> None:
    for node in cluster.controllers:
        status = dict(
            line.split("\t")
            for line in cluster.sql(node, "SHOW GLOBAL STATUS LIKE 'wsrep_%'").splitlines()
            if "\t" in line
        )
        assert status["wsrep_cluster_size"] == "3", (node, status["wsrep_cluster_size"])
        assert (status["wsrep_local_state_comment"], status["wsrep_cluster_status"]) == ("Synced", "Primary")


@pytest.mark.every_release  # the re-run test counts these rows
def test_a_row_written_through_the_vip_is_on_every_node(cluster: Cluster) -> None:
    write_rows(cluster, PROBE_ROWS)
    for node in cluster.controllers:
        assert cluster.sql(node, f"SELECT COUNT(*) FROM {PROBE_DB}.t").strip() == str(PROBE_ROWS), node


# ----------------------------------------------------------- the re-runs


@pytest.mark.every_release
def test_rerun_changes_nothing_restarts_nothing_and_keeps_data(cluster: Cluster) -> None:
    publish(cluster, "ctrl-2", PROBE_MESSAGES)
    units = cluster.units()
    run = cluster.converge()
    cluster.runs["rerun"] = run
    assert run.changed == {}, run.changed
    assert cluster.units() == units
    assert queue_depth(cluster) == PROBE_MESSAGES
    for node in cluster.controllers:
        assert cluster.sql(node, f"SELECT COUNT(*) FROM {PROBE_DB}.t").strip() == str(PROBE_ROWS), node
    cold = cluster.runs["cold"].seconds
    print(f"\n[{cluster.vip_manager}] cold {cold:.0f} s, re-run {run.seconds:.0f} s ({run.seconds / cold:.2f})")


@pytest.mark.every_release
def test_prediction_on_a_converged_cluster_is_zero_changes(cluster: Cluster) -> None:
    units = cluster.units()
    run = cluster.orchestrate(test=True)
    assert run.rc == 0 and all(step.result is True for step in run.steps), run.report()
    assert run.changed == {}, run.changed
    assert cluster.units() == units


def test_adding_a_service_changes_exactly_that(cluster: Cluster) -> None:
    port = HOSTNAME_SOURCE_PORT + 1
    pillar = cluster.pillar
    pillar["prereqos"]["haproxy"]["services"]["hostname_extra"] = {
        "port": port,
        "backend_port": HOSTNAME_PORT,
        "networks": ["api"],
    }
    cluster.write_pillar(pillar)
    units = cluster.units()
    run = cluster.converge()
    # The node's facts list the listeners (prereqos.health checks each one).
    assert_changed_haproxy_config_only(cluster, run, also={"prereqos-deploy/prereqos-facts"})
    assert cluster.units() == units  # a reload keeps haproxy's MainPID
    vip = cluster.site["networks"]["api"]["vip"]

    def answers() -> bool | None:
        return True if cluster.http(f"http://{vip}:{port}/")[0] == 200 else None

    poll(answers, 30, lambda: f"nothing answers on {vip}:{port} after the reload")


def assert_changed_haproxy_config_only(cluster: Cluster, run: Run, also: Collection[str] = ()) -> None:
    """The run changed haproxy.cfg (and the states ``also``) and reloaded haproxy on every
    controller, and nothing else."""
    expected_states = {
        "prereqos-deploy/prereqos-haproxy-config",
        "prereqos-deploy/prereqos-haproxy-undrained-config",
        *also,
    } | (
        {"prereqos-deploy/prereqos-haproxy-reloaded"}
        if cluster.vip_manager == "pacemaker"
        else {"prereqos-deploy/prereqos-haproxy-running"}
    )
    assert {node: set(ids) for node, ids in run.changed.items()} == dict.fromkeys(cluster.controllers, expected_states)


# ----------------------------------------------------------- served through gitfs


@pytest.mark.parametrize("cluster", GITFS_MANAGERS, indirect=True)
def test_the_formula_is_served_through_gitfs_as_the_readme_says(cluster: Cluster) -> None:
    """The master runs the README's gitfs block; states, orchestration and modules come from it."""
    tb = cluster.tb
    assert tb.exec(MASTER, ["cat", gitfs.MASTER_CONFIG], check=True).stdout == gitfs.readme_master_config()
    assert tb.exec(MASTER, ["test", "-e", "/srv/prereqos"]).rc != 0, "the checkout is mounted on the master"
    served = set(json.loads(tb.salt_run(["fileserver.file_list", "backend=gitfs", "--out=json"], check=True).stdout))
    assert {"orch/prereqos.sls", "prereqos/map.jinja", "_modules/prereqos.py", "_utils/prereqos_common.py"} <= served
    roots = json.loads(tb.salt_run(["fileserver.file_list", "backend=roots", "--out=json"], check=True).stdout)
    assert roots == [], roots
    # The controllers run the modules of the served commit.
    assert tb.served is not None
    module = hashlib.sha256((tb.served.worktree / "_modules/prereqos.py").read_bytes()).hexdigest()
    synced = "/var/cache/salt/minion/extmods/modules/prereqos.py"
    for node in cluster.controllers:
        assert tb.exec(node, ["sha256sum", synced], check=True).stdout.split()[0] == module, node


@pytest.mark.parametrize("cluster", GITFS_MANAGERS, indirect=True)
def test_a_commit_to_the_served_repository_reaches_the_controllers(cluster: Cluster) -> None:
    """A changed default, committed and fetched (`salt-run fileserver.update`), lands on the next
    orchestration, and nothing else changes; reverted, the cluster is as before."""
    served, tb = cluster.tb.served, cluster.tb
    assert served is not None
    configs, units = cluster.checksums(), cluster.units()
    old, new = GITFS_DEFAULT_CHANGE
    for before, after, message in ((old, new, "haproxy retries 4"), (new, old, "haproxy retries back to 3")):
        commit = served.commit("formula/prereqos/defaults.yaml", before, after, message)
        tb.salt_run(["fileserver.update", "backend=gitfs"], check=True)
        run = cluster.converge()
        assert_changed_haproxy_config_only(cluster, run)
        retries = after.split(":")[1].strip()
        for node in cluster.controllers:
            config = tb.exec(node, ["cat", "/etc/haproxy/haproxy.cfg"], check=True).stdout
            assert f"retries {retries}" in config, (node, commit)
    assert cluster.checksums() == configs
    assert cluster.units() == units  # reloads only


@pytest.mark.parametrize("cluster", GITFS_MANAGERS, indirect=True)
def test_a_fresh_gitfs_master_serves_controllers_asking_at_once(cluster: Cluster) -> None:
    """Salt's gitfs races when minions ask at once for the files of a folder it has not
    served yet (one of them is told the file does not exist): the orchestrations fetch
    the formula on one controller before the others ask, so a master that never served
    still converges them. The race is widened here so that it bites every time."""
    tb = cluster.tb
    # A folder of the tree no orchestration asks for: the same files, through the second remote.
    untouched = "salt://formula/prereqos/apache/init.sls"
    with gitfs.widened_cache_race(tb):
        tb.restart_master(empty_gitfs_cache=True)
        tb.wait_minions(cluster.controllers)
        fetched = json.loads(
            tb.exec(
                MASTER,
                ["salt", "-L", ",".join(cluster.controllers), "cp.cache_file", untouched, "--out=json", "--static"],
                timeout=120,
                check=True,
            ).stdout
        )
        assert not all(fetched.values()), f"the widened race did not bite: {fetched}"
        run = cluster.orchestrate(test=True)
    tb.restart_master()
    tb.wait_minions(cluster.controllers)
    assert run.rc == 0 and not [s.id for s in run.steps if s.result is False], run.report()


@pytest.mark.parametrize("cluster", ["pacemaker"], indirect=True)
def test_a_corosync_timer_change_reloads_corosync_without_a_restart(cluster: Cluster) -> None:
    pillar = cluster.pillar
    pillar["prereqos"].setdefault("pacemaker", {})["token"] = 4000
    cluster.write_pillar(pillar)
    units = cluster.units()
    run = cluster.converge()
    expected = {"prereqos-deploy/prereqos-corosync-config", "prereqos-deploy/prereqos-corosync-reloaded"}
    assert {node: set(ids) for node, ids in run.changed.items()} == dict.fromkeys(cluster.controllers, expected)
    assert cluster.units() == units
    for node in cluster.controllers:
        out = cluster.tb.exec(node, ["corosync-cmapctl", "-g", "totem.token"], check=True).stdout
        assert out.strip().endswith("= 4000"), (node, out)
