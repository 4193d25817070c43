"""A program written for InfluxDB 1.x with its official Python client (`influxdb` 5.3 from
PyPI), used as the client's documentation shows: its own database, tags and typed fields. The
end-to-end test runs it against Fieldline with only the address and credentials changed, and
checks what it prints (one JSON document per `== name` section).

Environment: INFLUX_HOST, INFLUX_PORT, INFLUX_USER, INFLUX_PASSWORD.
"""

import json
import os

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError


def section(name, value):
    print(f"== {name}")
    print(json.dumps(value, sort_keys=True))


client = InfluxDBClient(
    host=os.environ["INFLUX_HOST"],
    port=int(os.environ["INFLUX_PORT"]),
    username=os.environ["INFLUX_USER"],
    password=os.environ["INFLUX_PASSWORD"],
    database="plant",
)

client.create_database("plant")
# Creating it again is not an error, as in InfluxDB.
client.create_database("plant")
section("databases", client.get_list_database())

points = [
    {
        "measurement": "cpu",
        "tags": {"host": "alpha", "region": "eu"},
        "time": "2021-03-01T00:00:00Z",
        "fields": {"value": 1.0, "procs": 12, "ok": True, "state": "running"},
    },
    {
        "measurement": "cpu",
        "tags": {"host": "beta", "region": "eu"},
        "time": "2021-03-01T00:00:00Z",
        "fields": {"value": 3.5, "procs": 9007199254740993},
    },
    {
        "measurement": "cpu",
        "tags": {"host": "alpha", "region": "eu"},
        "time": "2021-03-01T00:01:00Z",
        "fields": {"value": 2.0, "procs": 14},
    },
]
section("write", client.write_points(points))

section("select", list(client.query("SELECT * FROM cpu").get_points()))
section(
    "by_host",
    [
        {"tags": tags, "points": list(rows)}
        for (_, tags), rows in client.query(
            "SELECT max(procs) AS procs, mean(value) FROM cpu GROUP BY host"
        ).items()
    ],
)
section("measurements", client.get_list_measurements())
section("field_keys", list(client.query("SHOW FIELD KEYS").get_points()))
section("tag_keys", list(client.query("SHOW TAG KEYS").get_points()))

try:
    client.write_points(
        [
            {
                "measurement": "cpu",
                "tags": {"host": "gamma"},
                "time": "2021-03-01T00:02:00Z",
                "fields": {"procs": "many"},
            }
        ]
    )
    section("conflict", None)
except InfluxDBClientError as e:
    section("conflict", {"code": e.code, "content": str(e.content)})

# Deleting data as the client's documentation shows: a series by its tags, points by time,
# then the whole measurement.
client.write_points(
    [
        {
            "measurement": "disk",
            "tags": {"host": host},
            "time": time,
            "fields": {"used": used, "path": "/"},
        }
        for host, time, used in [
            ("alpha", "2021-03-01T00:00:00Z", 10),
            ("alpha", "2021-03-01T00:01:00Z", 11),
            ("beta", "2021-03-01T00:00:00Z", 20),
            ("beta", "2021-03-01T00:01:00Z", 21),
        ]
    ]
)
client.delete_series(measurement="disk", tags={"host": "beta"})
section("after_delete_series", list(client.query("SHOW SERIES FROM disk").get_points()))
client.query("DELETE FROM disk WHERE time < '2021-03-01T00:01:00Z'", method="POST")
section("after_delete", list(client.query("SELECT * FROM disk").get_points()))
client.drop_measurement("disk")
section("after_drop_measurement", client.get_list_measurements())

client.drop_database("plant")
section("after_drop", client.get_list_database())
