#!/usr/bin/env bash
# openstack-up.sh - real OpenStack control plane on loopback for the OpenStack adapter's tests.
#   keystone + placement + glance (file store) + neutron-server (API only, ML2, no agents)
#   + nova api/conductor/scheduler/compute with a *fake* virt driver (servers go ACTIVE, nothing boots)
#   + RabbitMQ and MariaDB (Debian; MariaDB on 127.0.0.1:$OS_PORT_MYSQL, default 3307, for nova/placement/neutron,
#     keystone/glance on sqlite). Fresh state on every start (a running stack is stopped first).
# Needs install.sh to have run (Debian packages + the services' venv, default /opt/ivoa-broker-openstack/venv).
# Writes $OS_BASE/clouds.yaml (clouds "local" = admin, "ci-quota" = member of a small-quota project)
# and $OS_BASE/env (OS_CLIENT_CONFIG_FILE=...). Seeds flavors ci.small/ci.medium/ci.large/ci.gpu
# (resources:VGPU=1), image "ci-tiny", shared network "ci-net" (+ subnet). Stop with openstack-down.sh.
# A single-node devstack-less control plane from Debian packages and pip (see the adapter README).
# Ports and the RabbitMQ node name come from the environment (the test fixture picks free ports
# and a state folder per run, so two runs on one machine do not meet); defaults as before.
set -euo pipefail
T0=$(date +%s.%N)
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${OS_BASE:-/tmp/ivoa-broker-openstack}
VENV=${OS_VENV:-/opt/ivoa-broker-openstack/venv}
P_KS=${OS_PORT_KEYSTONE:-5000}; P_NOVA=${OS_PORT_NOVA:-8774}; P_PLACEMENT=${OS_PORT_PLACEMENT:-8778}
P_GLANCE=${OS_PORT_GLANCE:-9292}; P_NEUTRON=${OS_PORT_NEUTRON:-9696}; P_MYSQL=${OS_PORT_MYSQL:-3307}
P_RABBIT=${OS_PORT_RABBIT:-5672}; P_RABBIT_DIST=${OS_PORT_RABBIT_DIST:-25672}
NODE=${OS_RABBIT_NODE:-rabbit@localhost}
KS_URL="http://127.0.0.1:$P_KS/v3"
if [ ! -x "$VENV/bin/nova-compute" ] || ! command -v rabbitmq-server >/dev/null || ! command -v mariadbd >/dev/null; then
  echo "openstack-up.sh: not installed; run $HERE/install.sh first" >&2; exit 2
fi
# fresh state: stop whatever a previous run left behind (by its pid files only)
[ -d "$BASE" ] && OS_BASE="$BASE" "$HERE/openstack-down.sh" >/dev/null 2>&1 || true
PY="$VENV/bin/python"; GUNI="$VENV/bin/gunicorn"
rm -rf "$BASE"/{ks,placement,glance,nova,neutron,rabbit,mysql,clouds.yaml,env,startup-seconds}
mkdir -p "$BASE"/{ks/fernet-keys,ks/credential-keys,placement,glance/images,nova/state,nova/locks,neutron/plugins/ml2,neutron/state,neutron/locks,rabbit}
wait_url() { for _ in $(seq 240); do curl -sf -m2 -o /dev/null "$1" && return 0; sleep 0.5; done; echo "timeout waiting for $1" >&2; return 1; }
quiet() { grep -vE 'eventlet|Eventlet|framework|migration|recommend|Warning|warn\(|^\s*$' || true; }
# gunicorn: these apps parse sys.argv with oslo.config, so all gunicorn settings go in ./gunicorn.conf.py, no CLI args
start_wsgi() { # start_wsgi DIR APP PORT ENVVAR=VALUE
  printf 'wsgi_app = "%s"\nbind = "127.0.0.1:%s"\nworkers = 1\ntimeout = 120\npidfile = "%s/gunicorn.pid"\n' "$2" "$3" "$BASE/$1" > "$BASE/$1/gunicorn.conf.py"
  # exec: no bash stays behind holding the caller's stdout (a pipe when run from pytest)
  (cd "$BASE/$1" && exec env "$4" nohup "$GUNI") </dev/null >"$BASE/$1/gunicorn.log" 2>&1 &
  wait_url "http://127.0.0.1:$3/"
}
authsec() { printf '[keystone_authtoken]\nwww_authenticate_uri = %s\nauth_url = %s\nauth_type = password\nproject_domain_name = Default\nuser_domain_name = Default\nproject_name = service\nusername = %s\npassword = %spw\nregion_name = RegionOne\n' "$KS_URL" "$KS_URL" "$1" "$1"; }
svcauth() { printf '[%s]\nauth_type = password\nauth_url = %s\nproject_domain_name = Default\nuser_domain_name = Default\nproject_name = service\nusername = %s\npassword = %spw\nregion_name = RegionOne\n' "$1" "$KS_URL" "$2" "$2"; }

# --- RabbitMQ (loopback only, state under $BASE/rabbit)
chown rabbitmq:rabbitmq "$BASE/rabbit"
export RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
       RABBITMQ_NODE_PORT="$P_RABBIT" RABBITMQ_DIST_PORT="$P_RABBIT_DIST" \
       RABBITMQ_MNESIA_BASE="$BASE/rabbit/mnesia" RABBITMQ_LOG_BASE="$BASE/rabbit/log" RABBITMQ_PID_FILE="$BASE/rabbit/rabbit.pid" \
       RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
nohup rabbitmq-server </dev/null >"$BASE/rabbit/server.out" 2>&1 &
for _ in $(seq 90); do rabbitmqctl -q -n "$NODE" await_startup >/dev/null 2>&1 && break; sleep 1; done
rabbitmqctl -q -n "$NODE" add_user os ospw >/dev/null
rabbitmqctl -q -n "$NODE" set_permissions os '.*' '.*' '.*' >/dev/null
RMQ=rabbit://os:ospw@127.0.0.1:$P_RABBIT/

# --- MariaDB (nova + placement + neutron: several processes write concurrently; sqlite gives "database is locked")
mkdir -p "$BASE/mysql" && chown mysql:mysql "$BASE/mysql"
mariadb-install-db --user=mysql --datadir="$BASE/mysql/data" --auth-root-authentication-method=socket >"$BASE/mysql/install.log" 2>&1
nohup mariadbd --user=mysql --datadir="$BASE/mysql/data" --socket="$BASE/mysql/mysqld.sock" --bind-address=127.0.0.1 --port="$P_MYSQL" \
  --pid-file="$BASE/mysql/mysqld.pid" --log-error="$BASE/mysql/error.log" --innodb-buffer-pool-size=128M --max-connections=500 \
  </dev/null >/dev/null 2>&1 &
for _ in $(seq 60); do mariadb --socket="$BASE/mysql/mysqld.sock" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
mariadb --socket="$BASE/mysql/mysqld.sock" -e "CREATE USER 'os'@'127.0.0.1' IDENTIFIED BY 'ospw';
  $(for d in nova_api nova nova_cell0 placement neutron; do printf 'CREATE DATABASE %s; GRANT ALL ON %s.* TO "os"@"127.0.0.1"; ' $d $d; done)"
DB=mysql+pymysql://os:ospw@127.0.0.1:$P_MYSQL

# --- Keystone
cat > "$BASE/ks/keystone.conf" <<EOF
[DEFAULT]
log_file = $BASE/ks/keystone.log
[database]
connection = sqlite:///$BASE/ks/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $BASE/ks/fernet-keys
[credential]
key_repository = $BASE/ks/credential-keys
EOF
K="$VENV/bin/keystone-manage --config-file $BASE/ks/keystone.conf"
{ $K db_sync; $K fernet_setup --keystone-user root --keystone-group root; $K credential_setup --keystone-user root --keystone-group root
  $K bootstrap --bootstrap-password adminpw --bootstrap-region-id RegionOne \
     --bootstrap-admin-url $KS_URL/ --bootstrap-public-url $KS_URL/ --bootstrap-internal-url $KS_URL/; } 2>&1 | quiet
start_wsgi ks keystone.wsgi.api:application "$P_KS" OS_KEYSTONE_CONFIG_FILES="$BASE/ks/keystone.conf"
cat > "$BASE/clouds.yaml" <<EOF
clouds:
  local:
    auth: {auth_url: "$KS_URL", username: admin, password: adminpw, project_name: admin,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
  ci-quota:
    auth: {auth_url: "$KS_URL", username: ci-quota, password: ci-quotapw, project_name: ci-quota,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
EOF
export OS_CLIENT_CONFIG_FILE="$BASE/clouds.yaml"
P_NOVA=$P_NOVA P_PLACEMENT=$P_PLACEMENT P_GLANCE=$P_GLANCE P_NEUTRON=$P_NEUTRON "$PY" - <<'EOF' 2>&1 | quiet
import os, openstack
c = openstack.connect(cloud="local")
sp = c.identity.create_project(name="service", domain_id="default")
admin, service = c.identity.find_role("admin"), c.identity.find_role("service")
for name, typ, port, path in [("nova", "compute", os.environ["P_NOVA"], "/v2.1"),
                              ("placement", "placement", os.environ["P_PLACEMENT"], ""),
                              ("glance", "image", os.environ["P_GLANCE"], ""),
                              ("neutron", "network", os.environ["P_NEUTRON"], "")]:
    u = c.identity.create_user(name=name, password=name + "pw", domain_id="default")
    c.identity.assign_project_role_to_user(sp, u, admin); c.identity.assign_project_role_to_user(sp, u, service)
    s = c.identity.create_service(name=name, type=typ)
    for iface in ("public", "internal", "admin"):
        c.identity.create_endpoint(service_id=s.id, interface=iface, url=f"http://127.0.0.1:{port}{path}", region_id="RegionOne")
# a project with small compute quotas (set after nova is up) and a plain member user
qp = c.identity.create_project(name="ci-quota", domain_id="default")
qu = c.identity.create_user(name="ci-quota", password="ci-quotapw", domain_id="default")
member = c.identity.find_role("member")
c.identity.assign_project_role_to_user(qp, qu, member)
EOF

# --- Placement
{ printf '[api]\nauth_strategy = keystone\n[placement_database]\nconnection = %s/placement?charset=utf8\n' "$DB"; authsec placement; } > "$BASE/placement/placement.conf"
OS_PLACEMENT_CONFIG_DIR="$BASE/placement" "$VENV/bin/placement-manage" --config-file "$BASE/placement/placement.conf" db sync 2>&1 | quiet
start_wsgi placement placement.wsgi.api:application "$P_PLACEMENT" OS_PLACEMENT_CONFIG_DIR="$BASE/placement"

# --- Glance (file store)
cp "$VENV/etc/glance/glance-api-paste.ini" "$BASE/glance/"
{ cat <<EOF
[DEFAULT]
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $BASE/glance/images
[database]
connection = sqlite:///$BASE/glance/glance.db
[paste_deploy]
flavor = keystone
config_file = $BASE/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $BASE/glance
EOF
  authsec glance; } > "$BASE/glance/glance-api.conf"
"$VENV/bin/glance-manage" --config-file "$BASE/glance/glance-api.conf" db_sync 2>&1 | quiet
start_wsgi glance glance.wsgi.api:application "$P_GLANCE" OS_GLANCE_CONFIG_DIR="$BASE/glance"

# --- Neutron server (API only). Tables from the models + stamp (faster than running every alembic migration).
cp "$VENV/etc/neutron/api-paste.ini" "$BASE/neutron/"
{ cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router,port_forwarding
auth_strategy = keystone
api_paste_config = $BASE/neutron/api-paste.ini
transport_url = $RMQ
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
state_path = $BASE/neutron/state
[database]
connection = $DB/neutron?charset=utf8
[oslo_concurrency]
lock_path = $BASE/neutron/locks
EOF
  authsec neutron; } > "$BASE/neutron/neutron.conf"
printf '[ml2]\ntype_drivers = local,flat\ntenant_network_types = local\nmechanism_drivers =\nextension_drivers = port_security\n' > "$BASE/neutron/plugins/ml2/ml2_conf.ini"
"$PY" -c "
import sqlalchemy as sa; from neutron.db.migration.models import head
head.get_metadata().create_all(sa.create_engine('$DB/neutron?charset=utf8'))" 2>&1 | quiet
"$VENV/bin/neutron-db-manage" --config-file "$BASE/neutron/neutron.conf" --config-file "$BASE/neutron/plugins/ml2/ml2_conf.ini" stamp heads 2>&1 | quiet >/dev/null
start_wsgi neutron neutron.wsgi.api:application "$P_NEUTRON" OS_NEUTRON_CONFIG_DIR="$BASE/neutron"

# --- Nova (fake virt driver that leaves ports unbound, see ivoa_fakevirt.py)
cp "$VENV/etc/nova/api-paste.ini" "$BASE/nova/"
{ cat <<EOF
[DEFAULT]
transport_url = $RMQ
compute_driver = ivoa_fakevirt.UnboundFakeDriver
state_path = $BASE/nova/state
host = $(hostname -s)
my_ip = 127.0.0.1
[wsgi]
api_paste_config = $BASE/nova/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = $DB/nova_api?charset=utf8
[database]
connection = $DB/nova?charset=utf8
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = $BASE/nova/locks
[glance]
region_name = RegionOne
EOF
  authsec nova; svcauth placement nova; svcauth neutron neutron
  # nova sends X-Service-Token to neutron; without [service_user] creds neutron answers 401 ("unauthorized exception")
  printf '[service_user]\nsend_service_user_token = true\n'; svcauth service_user nova | tail -n +2
} > "$BASE/nova/nova.conf"
# nova loads compute drivers from the nova.virt package only: put ours there (our own venv)
NOVA_VIRT=$("$PY" -W ignore -c 'import os, nova.virt; print(os.path.dirname(nova.virt.__file__))' 2>/dev/null)
cp "$HERE/ivoa_fakevirt.py" "$NOVA_VIRT/ivoa_fakevirt.py"
N="$VENV/bin/nova-manage --config-file $BASE/nova/nova.conf"
{ $N api_db sync; $N cell_v2 map_cell0 --database_connection "$DB/nova_cell0?charset=utf8"
  $N cell_v2 create_cell --name=cell1 --database_connection "$DB/nova?charset=utf8" --transport-url "$RMQ"; $N db sync; } 2>&1 | quiet
for svc in conductor scheduler compute; do
  nohup "$VENV/bin/nova-$svc" --config-file "$BASE/nova/nova.conf" </dev/null >"$BASE/nova/$svc.log" 2>&1 &
  echo $! > "$BASE/nova/$svc.pid"
done
start_wsgi nova nova.wsgi.osapi_compute:application "$P_NOVA" OS_NOVA_CONFIG_DIR="$BASE/nova"

# warm-up, wait for the fake hypervisor to be mapped into cell1, seed what the tests use
"$PY" - <<'EOF' 2>&1 | quiet
import time, openstack
c = openstack.connect(cloud="local", compute_api_version="2.95")
list(c.network.networks())   # first GET /v2.0/ports on a fresh neutron-server 500s until SQLAlchemy mappers are configured
for _ in range(240):
    if any(h.state == "up" for h in c.compute.hypervisors()): break
    time.sleep(0.5)
else: raise SystemExit("no hypervisor")
for name, vcpus, ram, disk, specs in [("ci.small", 1, 256, 1, {}), ("ci.medium", 2, 1024, 2, {}),
                                       ("ci.large", 4, 4096, 4, {}), ("ci.gpu", 4, 4096, 4, {"resources:VGPU": "1"})]:
    f = c.compute.create_flavor(name=name, ram=ram, vcpus=vcpus, disk=disk)
    if specs: c.compute.create_flavor_extra_specs(f, specs)
c.image.create_image(name="ci-tiny", data=b"\0" * 1024, disk_format="raw", container_format="bare", visibility="public")
net = c.network.create_network(name="ci-net", shared=True)
c.network.create_subnet(network_id=net.id, name="ci-subnet", ip_version=4, cidr="10.77.0.0/24", enable_dhcp=False)
qp = c.identity.find_project("ci-quota")
c.set_compute_quotas(qp.id, cores=2, ram=2048, instances=2)
# the admin project runs the tests' concurrent jobs (conformance: 20 at once)
c.set_compute_quotas(c.identity.find_project("admin").id, cores=-1, ram=-1, instances=-1)
EOF
cat > "$BASE/env" <<EOF
OS_CLIENT_CONFIG_FILE=$BASE/clouds.yaml
EOF
T1=$(date +%s.%N)
python3 -c "print(round($T1 - $T0, 1))" > "$BASE/startup-seconds"
printf 'openstack up in %.1f s: keystone:%s nova:%s placement:%s glance:%s neutron:%s; OS_CLIENT_CONFIG_FILE=%s (clouds "local", "ci-quota")\n' \
  "$(cat "$BASE/startup-seconds")" "$P_KS" "$P_NOVA" "$P_PLACEMENT" "$P_GLANCE" "$P_NEUTRON" "$BASE/clouds.yaml"
