# results.gp - bench/results.png from the table bench/run.sh writes:
#   "label" <TAB> hsvr's advantage <TAB> target's advantage or NaN <TAB> 1 (target row) | 2 (information)
# Advantage: hsvr ÷ anchor for throughput, anchor ÷ hsvr for CPU, memory and
# time, so above 1 always means hsvr did better.
# Run: gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" results.gp
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 1280,760 font "sans,10"
set output outfile
set title sprintf("hsvr relative to each anchor (above 1: hsvr better)\n{/*0.8 %s}", subtitle) enhanced
set datafile separator "\t"
set datafile missing "NaN"
set style fill solid 0.85 border -1
set boxwidth 0.7
set logscale y 2
set yrange [0.03125:32]
set ytics ("1/32" 0.03125, "1/16" 0.0625, "1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32)
set ylabel "hsvr's advantage (log scale)"
set xtics rotate by -40 left font ",9" nomirror
set grid ytics
set key top left
set bmargin 10
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot datafile using 0:2:($4 == 1 ? 0x3060c0 : 0xb0b0b0):xtic(1) with boxes lc rgb variable notitle, \
     NaN with boxes lc rgb "#3060c0" title "comparison with a target", \
     NaN with boxes lc rgb "#b0b0b0" title "for information", \
     datafile using 0:3 with points pt 7 ps 1.6 lc rgb "#d02020" title "what the target asks", \
     datafile using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7 font ",8" notitle
