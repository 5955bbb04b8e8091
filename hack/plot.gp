# gnuplot -e "datafile='plot.tsv'; outfile='performance.png'" hack/plot.gp
# plot.tsv: "command name"<TAB>median_ms, one row per command (written by hack/bench.sh).
# Horizontal bars on a log scale (fork-exec ~1 ms to podman ~200 ms), the value at each bar.
if (!exists("datafile")) datafile = 'plot.tsv'
if (!exists("outfile")) outfile = 'performance.png'
set datafile separator "\t"
stats datafile using 2 nooutput
n = STATS_records
set terminal pngcairo size 1000, (140 + 34 * n) font "DejaVu Sans,10"
set output outfile
set title "Start latency of /bin/true, medians (ms, log scale; lower is better)"
set logscale x
set xrange [0.3:STATS_max * 4]
set yrange [n - 0.4:-0.6]
set xlabel "ms"
set grid xtics mxtics
set key off
set style fill solid 0.8 border -1
set ytics nomirror
set lmargin 42
# sandlock-runtime's bars in red, the peers' in blue
col(s) = strstrt(s, "sandlock") > 0 ? 0xcc4444 : 0x4477aa
plot datafile using (0.3):0:(0.3):2:($0 - 0.35):($0 + 0.35):(col(strcol(1))):ytic(1) with boxxyerror lc rgb variable, \
     '' using 2:0:(sprintf(" %.1f", $2)) with labels left
