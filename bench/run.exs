# Tsunami vs :ets benchmark. Run with:
#
#     MIX_ENV=bench mix run bench/run.exs [--quick | --full] [--only lookup_hit,insert] ...
#
# The measured loops live in compiled modules (bench/tsunami_bench*.ex); see
# bench/README.md for what is measured and how.
TsunamiBench.main(System.argv())
