#!/usr/bin/env bash
# Draws the ratio bar chart: bench/plot.sh DATA REPS OUT.png
# DATA: one line per load, "label" ratio.
set -euo pipefail
bars=$(wc -l < "$1")
gnuplot <<PLOT
set terminal pngcairo size 1280,520 font ",9"
set bmargin 4
set output "$3"
set title "fc against nginx on one machine in one run, medians of $2 runs each (4 KiB bars: access logs on; \"less CPU\" = nginx/fc CPU per request)"
set style fill solid 0.85 border -1
set boxwidth 0.55
set yrange [0:*]
set xrange [-0.6:$bars - 0.4]
set grid ytics
set ylabel "ratio (higher is better; dashed = 1)"
unset key
plot "$1" using 0:2:xtic(1) with boxes lc rgb "#3070b0", \
     "" using 0:(\$2 + 0.04):(sprintf("%.2f", \$2)) with labels, \
     1 with lines lc rgb "#c03030" dt 2
PLOT
