# Start and stop throwaway PostgreSQL and Redis servers on loopback, in a temporary
# directory. Sourced by scripts/test. PostgreSQL refuses to run as root, so as root the
# server runs as the "postgres" user on a data directory that user owns.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_bin() {
  local tool=$1
  if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$found" ] && [ -x "$found/$tool" ] && { echo "$found/$tool"; return; }
  echo "PostgreSQL's $tool was not found (apt-get install postgresql)" >&2; return 1
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

services_start() {
  SERVICES_DIR=$(mktemp -d /tmp/agile-services.XXXXXX)
  chmod 755 "$SERVICES_DIR"
  mkdir -p "$SERVICES_DIR/pg" "$SERVICES_DIR/sock"
  [ "$(id -u)" = 0 ] && chown postgres "$SERVICES_DIR/pg" "$SERVICES_DIR/sock"
  local pg_port redis_port
  pg_port=$(free_port); redis_port=$(free_port)
  as_pg "$(pg_bin initdb)" -D "$SERVICES_DIR/pg" -U postgres --auth=trust -E UTF8 >/dev/null
  # fsync off: a throwaway test server trades durability for speed.
  as_pg "$(pg_bin pg_ctl)" -D "$SERVICES_DIR/pg" -l "$SERVICES_DIR/pg/server.log" -w -o \
    "-p $pg_port -k $SERVICES_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  as_pg "$(pg_bin createdb)" -h 127.0.0.1 -p "$pg_port" -U postgres agile
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export SERVICES_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/agile"
  export SERVICES_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  echo "PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port (in $SERVICES_DIR)"
}

services_stop() {
  [ -n "${SERVICES_DIR:-}" ] || return 0
  as_pg "$(pg_bin pg_ctl)" -D "$SERVICES_DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
  [ -f "$SERVICES_DIR/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$SERVICES_DIR"
  SERVICES_DIR=
}
