# results.gp - bench/results.png from bench/results.dat, which bench/run.sh
# writes, a line per comparison (tab-separated):
#   workload <TAB> "label" <TAB> hsvr's advantage <TAB> the target's or NaN
#   <TAB> 1 (a row with a target) | 2 (for information)
# Advantage: hsvr ÷ anchor for throughput, anchor ÷ hsvr for CPU, memory
# and time, so above 1 always means hsvr did better.  One panel per
# workload, in the order of the file; a bar per comparison, from 1 to the
# advantage on a log scale from 1/4 to 4 (a longer bar is cut at the edge;
# its figure says how far it goes): green where hsvr wins, red where it
# loses.
# Run: gnuplot -e "datafile='bench/results.dat'; outfile='bench/results.png'; subtitle='...'" bench/results.gp
if (!exists("subtitle")) subtitle = ""

# The workloads, in the order of the file, and a title for each.
wls = system(sprintf("awk -F'\t' '!seen[$1]++ { printf \"%%s \", $1 }' '%s'", datafile))
nw = words(wls)
title_of(w) = w eq "echo64" ? "echo 64 B × 100 connections, 1 thread" : \
	w eq "echo64mt" ? "echo 64 B × 100 connections, N threads" : \
	w eq "echo16k" ? "echo 16 KB × 10 connections" : \
	w eq "hello" ? "HTTP keep-alive hello (wrk)" : \
	w eq "big" ? "HTTP 1 MB body (ab)" : \
	w eq "close" ? "connect, request, close (ab)" : \
	w eq "idle" ? "idle connections: memory" : \
	w eq "tlshello" ? "HTTPS keep-alive hello (wrk)" : \
	w eq "tlsconn" ? "TLS handshake, request, close (ab)" : \
	w eq "tlsidle" ? "idle TLS connections: memory" : \
	w eq "start" ? "start-up and stop" : \
	w eq "proxy64" ? "TCP proxy: 64 B × 100 connections" : \
	w eq "proxystream" ? "TCP proxy: 1 GB stream" : \
	w eq "proxyconn" ? "TCP proxy: connect, echo, close" : w

# Strong colours for rows with a target, pale ones for information.
colour(adv, cls) = adv >= 1 ? (cls == 1 ? 0x1f8a3c : 0x8fcf9f) : \
	(cls == 1 ? 0xc8372d : 0xeba39c)

cols = 3
rows = int((nw + 1 + cols - 1) / cols)  # one cell more: the legend
set terminal pngcairo size 1800, 300 * rows + 90 font "sans,10"
set output outfile
set datafile separator "\t"
set datafile missing "NaN"
# Room on the left of each panel for its rows' labels.
set multiplot layout rows, cols \
	margins 0.135, 0.99, 0.035, 1 - 80.0 / (300 * rows + 90) spacing 0.145, 0.075 \
	title sprintf("hsvr against each anchor, per workload: right of 1 (green) hsvr does better, left of 1 (red) worse   {/*0.8 (%s)}", subtitle) \
	font ",13" enhanced

set logscale x 2
set xrange [0.25 : 4]
set xtics ("1/4" 0.25, "1/2" 0.5, "0.8" 0.8, "1" 1, "1.25" 1.25, "2" 2, "4" 4) font ",8" nomirror
set grid xtics lc rgb "#d0d0d0"
set ytics nomirror font ",9" scale 0
set style fill solid 1.0 noborder
set style textbox opaque noborder margins 1, 1
unset key

do for [i = 1 : nw] {
	w = word(wls, i)
	src = sprintf("< awk -F'\t' -v w='%s' '$1 == w' '%s'", w, datafile)
	n = int(system(sprintf("awk -F'\t' -v w='%s' '$1 == w { n++ } END { print n + 0 }' '%s'", w, datafile)))
	set title title_of(w) font ",11"
	set yrange [n - 0.5 : -0.5]
	set arrow 1 from 1, graph 0 to 1, graph 1 nohead lw 1 lc rgb "#606060" front
	# The bar; the target's line; the figure on the other side of 1.
	plot src using (1):0:($3 < 1 ? $3 : 1):($3 < 1 ? 1 : $3):($0 - 0.36):($0 + 0.36):(colour($3, $5)):ytic(2) \
		with boxxyerror lc rgb variable, \
	     src using 4:($0 - 0.46):(0):(0.92) with vectors nohead lw 2.5 lc rgb "black", \
	     src using ($3 >= 1 ? 0.95 : NaN):0:(sprintf("%.2f", $3)) with labels right boxed font ",9", \
	     src using ($3 < 1 ? 1.05 : NaN):0:(sprintf("%.2f", $3)) with labels left boxed font ",9"
}

# The legend, in the next cell.
unset arrow 1
unset title
unset border
unset tics
unset grid
unset logscale x
set xrange [0 : 1]
set yrange [0 : 1]
set label 1 "How to read it" at -0.45, 0.92 font ",11"
set label 2 "Each bar goes from 1 to hsvr's advantage over one anchor\n(log scale): hsvr ÷ anchor for throughput, anchor ÷ hsvr\nfor CPU, memory and time. The figure beside 1 is that\nadvantage: 1.25 = hsvr 25 % better, 0.80 = 20 % worse.\nA bar beyond 1/4 or 4 is cut at the edge." at -0.45, 0.80 font ",9"
set label 3 "strong green / red: a row with a target;\nthe black line is what the target asks" at -0.33, 0.34 font ",9"
set label 4 "pale: for information" at -0.33, 0.14 font ",9"
set object 1 rect from -0.45, 0.30 to -0.41, 0.38 fc rgb "#1f8a3c" fs solid noborder noclip
set object 2 rect from -0.40, 0.30 to -0.36, 0.38 fc rgb "#c8372d" fs solid noborder noclip
set object 3 rect from -0.45, 0.10 to -0.41, 0.18 fc rgb "#8fcf9f" fs solid noborder noclip
set object 4 rect from -0.40, 0.10 to -0.36, 0.18 fc rgb "#eba39c" fs solid noborder noclip
plot NaN notitle
unset multiplot
