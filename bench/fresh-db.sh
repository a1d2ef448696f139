# Sourced by the benchmarks after `work`, `pid` and `cleanup` are set. With
# LATCHKEY_DATABASE_URL=postgres://user@host:port/<any>[?params], the run uses a new database on
# that server, dropped when the script exits, so every run starts empty. SQLite runs need nothing.
# A server on this machine is reached without TLS (sslmode=disable) unless the URL says otherwise:
# TLS to the loopback address protects nothing and costs both processes CPU on every statement.
if [[ "${LATCHKEY_DATABASE_URL:-}" == postgres* ]]; then
  bench_url=${LATCHKEY_DATABASE_URL%%\?*}
  bench_params=""
  [[ "$LATCHKEY_DATABASE_URL" == *\?* ]] && bench_params="?${LATCHKEY_DATABASE_URL#*\?}"
  if [[ "$bench_params" != *sslmode=* && "$bench_url" =~ @(127\.|localhost|\[::1\]) ]]; then
    bench_params="${bench_params:-?}${bench_params:+&}sslmode=disable"
  fi
  bench_server=${bench_url%/*}
  bench_db="latchkey_bench_$$"
  psql -q "$bench_server/postgres$bench_params" -c "CREATE DATABASE $bench_db" >/dev/null
  export LATCHKEY_DATABASE_URL="$bench_server/$bench_db$bench_params"
  trap 'cleanup; psql -q "$bench_server/postgres$bench_params" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null' EXIT
fi
