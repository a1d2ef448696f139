# Sourced by the benchmarks after `work`, `pid` and `cleanup` are set. With
# LATCHKEY_DATABASE_URL=postgres://user@host:port/<any>, the run uses a new database on that
# server, dropped when the script exits, so every run starts empty. SQLite runs need nothing.
if [[ "${LATCHKEY_DATABASE_URL:-}" == postgres* ]]; then
  bench_server=${LATCHKEY_DATABASE_URL%/*}
  bench_db="latchkey_bench_$$"
  psql -q "$bench_server/postgres" -c "CREATE DATABASE $bench_db" >/dev/null
  export LATCHKEY_DATABASE_URL="$bench_server/$bench_db"
  trap 'cleanup; psql -q "$bench_server/postgres" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null' EXIT
fi
