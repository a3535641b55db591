#!/usr/bin/env python3
"""The pandas peer of `sparkevents import`, for bench/run.sh (BENCH_PANDAS=1).

    python3 bench/pandas_import.py DATABASE_URL WORKBOOK.xlsx

What an analyst would write: pandas.read_excel with openpyxl, the columns
renamed to the event table's, then one COPY into a table with a primary key
(bench_pandas, created afresh), in one transaction. No upsert, no rejects,
no hashing: it does less than sparkevents, so the comparison favours it.
Prints the rows it loaded.
"""
import io
import sys

import pandas as pd
import psycopg2

COLUMNS = {
    "Timestamp": "event_time",
    "Event Type": "event_type",
    "User Name": "user_name",
    "Folder ID": "folder_id",
    "Folder Name": "folder_name",
    "Service Name": "service_name",
    "Service Version": "service_version",
    "Description": "description",
    "IP Address": "ip_address",
}

DDL = """
DROP TABLE IF EXISTS bench_pandas;
CREATE TABLE bench_pandas (
    event_id bigint PRIMARY KEY, event_time timestamptz NOT NULL, event_type text NOT NULL,
    user_name text, folder_id text, folder_name text, service_name text,
    service_version text, description text, ip_address text, source text)
"""


def main(url, path):
    df = pd.read_excel(path, engine="openpyxl")
    df = df.rename(columns=COLUMNS)
    df["source"] = df.pop("Source") if "Source" in df else None
    if not pd.api.types.is_datetime64_any_dtype(df["event_time"]):
        # Excel date numbers: days since 1899-12-30.
        if pd.api.types.is_numeric_dtype(df["event_time"]):
            df["event_time"] = pd.to_datetime(df["event_time"], unit="D", origin="1899-12-30")
        else:
            # ISO 8601 text; pandas 1.5 (Debian 12) has no format="ISO8601".
            df["event_time"] = pd.to_datetime(df["event_time"], utc=True)
    df.insert(0, "event_id", range(len(df)))
    cols = ["event_id"] + list(COLUMNS.values()) + ["source"]
    buf = io.StringIO()
    df[cols].to_csv(buf, index=False, header=False)
    buf.seek(0)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        cur.copy_expert("COPY bench_pandas (%s) FROM STDIN WITH (FORMAT csv)" % ", ".join(cols), buf)
    print(f"rows={len(df)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
