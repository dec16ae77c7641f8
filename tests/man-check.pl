#!/usr/bin/perl
# The manual pages against lib/crumb.h and the shared library, for
# tests/test-man-coverage.sh and tests/test-man-synopsis.sh:
#
#   man-check.pl coverage SRCDIR [LIBCRUMB.so]
#       every public function (crumb.h, and every symbol the library
#       exports) has a page man/NAME.3, real or a one-line ".so" link;
#       each name on a page's SYNOPSIS is in its NAME section; each link
#       points at a real page that names it; every page in man/ is
#       installed (listed in man/Makefile.inc); every .Xr to one of the
#       library's own pages (crumb, crumb_*, crumb-*) resolves; each
#       page's .Dd reads "Month D, YYYY" and a function page has the
#       house sections in order; and crumb-store(7) quotes
#       sql/*-store.sql as they are.
#   man-check.pl synopsis SRCDIR
#       every prototype in a SYNOPSIS (.Ft with .Fn, or .Fo/.Fa/.Fc) is
#       the one crumb.h declares: return type, name, parameter types and
#       names, whitespace normalised; a function crumb.h does not
#       declare fails, and so does one of crumb.h no page shows.
#   man-check.pl examples SRCDIR OUTDIR
#       write each C block of a page's EXAMPLES (a .Bd -literal block
#       holding an #include) to OUTDIR/PAGE-N.c, for
#       tests/test-man-examples.sh to compile, and print their names.
#   man-check.pl header SRCDIR     print crumb.h's prototypes, normalised
#   man-check.pl pages SRCDIR      print the pages' prototypes
#
# Prints every difference, one a line, and exits 1 when there is any.
use strict;
use warnings;

my ($mode, $srcdir, $so) = @ARGV;
die "usage: man-check.pl coverage|synopsis|examples|header|pages " .
    "SRCDIR [LIB.so|OUTDIR]\n"
    unless defined $srcdir &&
    $mode =~ /^(coverage|synopsis|examples|header|pages)$/;
my $mandir = "$srcdir/man";
my $header = "$srcdir/lib/crumb.h";

sub slurp {
	my ($path) = @_;
	open(my $fh, '<', $path) or die "man-check: $path: $!\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# "const char * * x" -> "const char **x"; one space elsewhere.
sub norm {
	my ($s) = @_;
	$s =~ s/\s+/ /g;
	$s =~ s/^ //;
	$s =~ s/ $//;
	$s =~ s/ ?(\*+) ?/ $1/g;
	$s =~ s/^ //;
	return $s;
}

sub proto {
	my ($ret, $name, @params) = @_;
	$ret = norm($ret);
	return $ret . ($ret =~ /\*$/ ? '' : ' ') . $name . '(' .
	    join(', ', map { norm($_) } @params) . ')';
}

# name -> normalised prototype, for every function crumb.h declares.
sub header_protos {
	my $t = slurp($header);
	my %p;
	$t =~ s{/\*.*?\*/}{ }gs;
	$t =~ s{//[^\n]*}{}g;
	$t =~ s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg;
	$t =~ s{extern\s*"C"\s*\{}{}g;
	1 while $t =~ s/\{[^{}]*\}/ /gs;      # struct and enum bodies
	$t =~ s/[{}]/ /g;
	for my $decl (split /;/, $t) {
		$decl = norm($decl);
		next if $decl eq '' || $decl =~ /^typedef\b/;
		next unless $decl =~ /^(.*?)\b(crumb_\w+)\s*\((.*)\)$/s;
		my ($ret, $name, $params) = ($1, $2, $3);
		$p{$name} = proto($ret, $name, split(/\s*,\s*/, $params));
	}
	return \%p;
}

# The arguments of an mdoc macro line: words, or "quoted" ("" inside).
sub mdoc_args {
	my ($s) = @_;
	my @a;
	while ($s =~ /\S/) {
		$s =~ s/^\s+//;
		if ($s =~ s/^"((?:[^"]|"")*)"?//) {
			(my $q = $1) =~ s/""/"/g;
			push @a, $q;
		} else {
			$s =~ s/^(\S+)//;
			push @a, $1;
		}
	}
	s/\\&//g for @a;
	return @a;
}

# The pages: file -> { so => target } or { names => [..], protos =>
# [[name, proto], ...] }.
sub pages {
	my %pages;
	opendir(my $dh, $mandir) or die "man-check: $mandir: $!\n";
	for my $f (sort grep { /\.[1-9]$/ } readdir($dh)) {
		my $text = slurp("$mandir/$f");
		if ($text =~ /\A\.so\s+(\S+)\s*\z/) {
			$pages{$f} = { so => $1 };
			next;
		}
		my (%page, $sec, $ret, $fo, @fa);
		$page{names} = [];
		$page{protos} = [];
		$page{xrefs} = [];
		$page{secs} = [];
		($page{dd}) = $text =~ /^\.Dd\s+(.*?)\s*$/m;
		for my $line (split /\n/, $text) {
			while ($line =~ /(?:^\.|\s)Xr\s+(\S+)\s+(\d)/g) {
				push @{$page{xrefs}}, "$1.$2";
			}
			if ($line =~ /^\.Sh\s+(.*)/) {
				$sec = $1;
				push @{$page{secs}}, $sec;
				next;
			}
			next unless defined $sec;
			if ($sec eq 'NAME' && $line =~ /^\.Nm\s+(.*)/) {
				push @{$page{names}},
				    grep { $_ ne ',' } mdoc_args($1);
			}
			next unless $sec eq 'SYNOPSIS';
			my ($mac, $rest) = $line =~ /^\.(\w+)\s*(.*)$/
			    or next;
			if ($mac eq 'Ft') {
				$ret = join(' ', mdoc_args($rest));
			} elsif ($mac eq 'Fn') {
				my ($name, @args) = mdoc_args($rest);
				push @{$page{protos}}, [$name,
				    proto($ret // '(no .Ft)', $name, @args)];
				undef $ret;
			} elsif ($mac eq 'Fo') {
				($fo) = mdoc_args($rest);
				@fa = ();
			} elsif ($mac eq 'Fa' && defined $fo) {
				push @fa, mdoc_args($rest);
			} elsif ($mac eq 'Fc' && defined $fo) {
				push @{$page{protos}}, [$fo,
				    proto($ret // '(no .Ft)', $fo, @fa)];
				undef $fo;
				undef $ret;
			}
		}
		$pages{$f} = \%page;
	}
	closedir($dh);
	return \%pages;
}

my $fail = 0;
sub bad { print "FAIL: @_\n"; $fail = 1; }

# mdoc's escapes in a literal block, back to the C text.
sub unescape {
	my ($l) = @_;
	my %named = (dq => '"', aq => "'", rs => '\\', ti => '~',
	    ha => '^', lq => '"', rq => '"');
	$l =~ s/\\\((\w\w)/exists $named{$1} ? $named{$1} : "\\($1"/ge;
	$l =~ s/\\&//g;
	$l =~ s/\\-/-/g;
	$l =~ s/\\e/\\/g;
	return $l;
}

if ($mode eq 'examples') {
	my $outdir = $so;
	die "man-check: examples needs OUTDIR\n" unless defined $outdir;
	opendir(my $dh, $mandir) or die "man-check: $mandir: $!\n";
	for my $f (sort grep { /\.3$/ } readdir($dh)) {
		my $text = slurp("$mandir/$f");
		next if $text =~ /\A\.so\s/;
		my ($sec, $in, @blocks, $cur) = ('');
		for my $line (split /\n/, $text) {
			if ($line =~ /^\.Sh\s+(.*)/) {
				$sec = $1;
			} elsif ($sec eq 'EXAMPLES' && $line =~ /^\.Bd\s+-literal/) {
				$cur = '';
			} elsif (defined $cur && $line =~ /^\.Ed\b/) {
				push @blocks, $cur if $cur =~ /^#include/m;
				undef $cur;
			} elsif (defined $cur) {
				$cur .= unescape($line) . "\n";
			}
		}
		bad("man/$f: EXAMPLES has no C block (a .Bd -literal " .
		    "holding an #include)") unless @blocks;
		my $n = 0;
		for my $b (@blocks) {
			(my $base = $f) =~ s/\.3$//;
			my $out = "$outdir/$base-" . ++$n . ".c";
			open(my $fh, '>', $out) or die "man-check: $out: $!\n";
			print $fh $b;
			close($fh);
			print "$out\n";
		}
	}
	closedir($dh);
	exit $fail;
}

my $hp = header_protos();
die "man-check: no function found in $header\n" unless %$hp;

if ($mode eq 'header') {
	print "$hp->{$_}\n" for sort keys %$hp;
	exit 0;
}
my $pages = pages();
if ($mode eq 'pages') {
	for my $f (sort keys %$pages) {
		print "$f: $_->[1]\n" for @{$pages->{$f}{protos} // []};
	}
	exit 0;
}

if ($mode eq 'coverage') {
	my %want = map { $_ => 'crumb.h' } keys %$hp;
	if (defined $so) {
		my @syms = `nm -D --defined-only '$so'`;
		bad("nm -D $so failed") if $? != 0 || !@syms;
		for (@syms) {
			my @w = split;
			next unless @w >= 3 && $w[2] =~ /^crumb_/;
			$want{$w[2]} = exists $want{$w[2]} ?
			    'crumb.h and ' . 'libcrumb.so' : 'libcrumb.so';
		}
	}
	for my $fn (sort keys %want) {
		my $page = $pages->{"$fn.3"};
		if (!defined $page) {
			bad("$fn ($want{$fn}) has no page man/$fn.3");
		} elsif (defined $page->{so}) {
			my ($t) = $page->{so} =~ m{^man3/([^/]+\.3)$};
			my $target = defined $t ? $pages->{$t} : undef;
			if (!defined $target || defined $target->{so}) {
				bad("man/$fn.3: .so $page->{so}: not " .
				    "\"man3/PAGE.3\" with PAGE a real page " .
				    "in man/");
			} elsif (!grep { $_ eq $fn } @{$target->{names}}) {
				bad("man/$fn.3 links to man/$t, whose NAME " .
				    "section does not list $fn");
			}
		}
	}
	for my $f (sort keys %$pages) {
		my $p = $pages->{$f};
		if (defined $p->{so}) {
			my ($t) = $p->{so} =~ m{^man3/([^/]+\.3)$};
			bad("man/$f: .so $p->{so}: no such page man/" .
			    ($t // '?')) unless defined $t &&
			    defined $pages->{$t};
			next;
		}
		# The house format (man/Makefile.inc): the date's form, and a
		# function page's sections in their order.
		bad("man/$f: .Dd " . ($p->{dd} // '(none)') . ": write " .
		    "it \"Month D, YYYY\"") unless defined $p->{dd} &&
		    $p->{dd} =~ /^(January|February|March|April|May|June|July|August|September|October|November|December) [1-9]\d?, \d{4}$/;
		if (@{$p->{protos}}) {
			my @want = ('NAME', 'LIBRARY', 'SYNOPSIS', 'DESCRIPTION',
			    'RETURN VALUES', 'EXAMPLES', 'ERRORS', 'SEE ALSO');
			my %w = map { $_ => 1 } @want;
			my @got = grep { $w{$_} } @{$p->{secs}};
			bad("man/$f: sections " . join(', ', @got) .
			    "; a function page has " . join(', ', @want) .
			    " in this order") if "@got" ne "@want";
		}
		# References to the library's own pages (crumb, crumb_*,
		# crumb-*) must resolve; others (crumbctl, system pages) are
		# not checked.
		for my $x (@{$p->{xrefs}}) {
			bad("man/$f: .Xr to man/$x, which does not exist")
			    if $x =~ /^crumb(?:_\w+|-[\w-]+)?\.\d$/ &&
			    !defined $pages->{$x};
		}
		for my $pr (@{$p->{protos}}) {
			bad("man/$f: $pr->[0] is in the SYNOPSIS but not " .
			    "in the NAME section (.Nm)")
			    unless grep { $_ eq $pr->[0] } @{$p->{names}};
		}
	}
	# Installed: every page is listed in man/Makefile.inc.
	my $mk = slurp("$mandir/Makefile.inc");
	my %listed = map { $_ => 1 } $mk =~ m{\bman/([\w.-]+\.[1-9])\b}g;
	for my $f (sort keys %$pages) {
		bad("man/$f is not listed in man/Makefile.inc (not " .
		    "installed)") unless $listed{$f};
	}
	for my $f (sort keys %listed) {
		bad("man/Makefile.inc lists man/$f, which does not exist")
		    unless -f "$mandir/$f";
	}
	# crumb-store(7) quotes the store schemas: they must be current.
	my $store7 = "$mandir/crumb-store.7";
	if (-f $store7) {
		my ($lit, $in) = ('', 0);
		for my $line (split /\n/, slurp($store7)) {
			if ($line =~ /^\.Bd\s+-literal/) { $in = 1; next; }
			if ($line =~ /^\.Ed\b/) { $in = 0; next; }
			$lit .= unescape($line) . "\n" if $in;
		}
		for my $sql (qw(sqlite-store.sql postgresql-store.sql)) {
			bad("man/crumb-store.7 does not quote sql/$sql as it " .
			    "is now") if index($lit, slurp("$srcdir/sql/$sql")) < 0;
		}
	}
	printf "ok: %d functions, %d pages\n", scalar(keys %want),
	    scalar(keys %$pages) unless $fail;
	exit $fail;
}

# synopsis
my %shown;
for my $f (sort keys %$pages) {
	for my $pr (@{$pages->{$f}{protos} // []}) {
		my ($name, $got) = @$pr;
		push @{$shown{$name}}, $f;
		if (!exists $hp->{$name}) {
			bad("man/$f: $name is not declared in crumb.h");
		} elsif ($got ne $hp->{$name}) {
			bad("man/$f: $name differs from crumb.h\n" .
			    "  page:    $got\n  crumb.h: $hp->{$name}");
		}
	}
}
for my $name (sort keys %$hp) {
	bad("$name: no page shows it in a SYNOPSIS") unless $shown{$name};
}
printf "ok: %d prototypes match crumb.h\n", scalar(keys %$hp) unless $fail;
exit $fail;
