# Plot of bench/compare.sh results: gnuplot -e "data='plot.dat'; out='benchmarks.png'" compare_plot.gp
# Rows of `data`: "label" ours qemu host ours/qemu host/qemu (see compare_report.py).
# Top: each VMM and host fio relative to QEMU (log scale, QEMU = 1). Bottom: ours/QEMU.
set terminal pngcairo size 1400,900 font "sans,10"
set output out
set multiplot layout 2,1 title "kvmm vs QEMU, same guest, same run (IOPS; MiB/s for seqread1m)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -30 scale 0 font "sans,9"
set key top left

set title "relative to QEMU (log scale): our VMM, and host fio on the backing file (the limit)"
set logscale y
set ylabel "x QEMU"
plot data using 5:xtic(1) title "our VMM" lc rgb "#1f77b4", \
     '' using (1):xtic(1) title "QEMU" lc rgb "#ff7f0e", \
     '' using 6:xtic(1) title "host fio" lc rgb "#7f7f7f"

unset logscale y
set title "ours / QEMU (> 1: our VMM faster)"
set ylabel "ratio"
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "black"
plot data using 5:xtic(1) notitle lc rgb "#1f77b4", \
     '' using 0:5:(sprintf("%.2f", $5)) with labels offset 0,0.7 notitle
unset multiplot
