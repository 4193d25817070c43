# The Proficloud time-series API tutorial's Python client (../shared/reference/proficloud-tsd-api.txt),
# as printed there, run against Fieldline by tests/e2e/epts.rs. Changed: the base URL (and the
# demo account, device and query window) come from the environment, and each step prints a
# marker line so that the test can check what it printed. Everything else is the document's.
import os

#In this Python example we will use the requests library:
import requests
import json
base = os.environ["TSD_BASE"]  # was: https://tsd.proficloud.io
url = base + "/epts/token"
username = os.environ["TSD_USERNAME"]
password = os.environ["TSD_PASSWORD"]
uuid = os.environ["TSD_UUID"]
metrics = "auto~pressure,auto~temperature,auto~watt"

#Headers:
header = {
    "Content-Type": "application/json"
}
#Payload:
data =  {
    "username": username,
    "password": password
}

#Send post request
token_response = requests.post(url, json=data, headers=header)
if token_response.ok:
    access_token = token_response.json().get("access_token")
    expires_in = token_response.json().get("expires_in")
    refresh_token = token_response.json().get("refresh_token")
    refresh_expires_in = token_response.json().get("refresh_expires_in")

print("Access token: ...{}...(length: {}, expires in {}s)".format(access_token[500:600], len(access_token), expires_in))
print("Refresh token: ...{}... (length: {}, expires in {}s, 0 means infinite)".format(refresh_token[500:600], len(refresh_token), refresh_expires_in))

#Headers:
header = {
    "Content-Type": "application/json"
}
#Payload:
data =  {
    "refresh_token": refresh_token
}

#Send post request
token_response = requests.post(url, json=data, headers=header)
if token_response.ok:
    access_token = token_response.json().get("access_token")
    expires_in = token_response.json().get("expires_in")
    refresh_token = token_response.json().get("refresh_token")
    refresh_expires_in = token_response.json().get("refresh_expires_in")

print("Access token: ...{}...(length: {}, expires in {}s)".format(access_token[500:600], len(access_token), expires_in))
print("Refresh token: ...{}... (length: {}, expires in {}s, 0 means infinite)".format(refresh_token[500:600], len(refresh_token), refresh_expires_in))

header = {
    "Content-Type": "application/json",
    "Authorization": "Bearer {}".format(access_token)
}

url = base + "/epts/last?uuid={}&timeSeriesName={}".format(uuid, metrics)

result = requests.get(url, headers=header)
if result.ok:
    print("== last")
    print(json.dumps(result.json(), indent=4))

header = {
    "Content-Type": "application/json",
    "Authorization": "Bearer {}".format(access_token)
}
#Dates are ISO-8601!
fromDate = os.environ["TSD_FROM"]  # was: "2020-07-21T10:45:00.000Z"
toDate = os.environ["TSD_TO"]  # was: "2020-07-21T10:45:05.000Z"
url = base + "/epts/data?uuid={}&timeSeriesName={}&fromDate={}&toDate={}".format(uuid, metrics, fromDate, toDate)

result = requests.get(url, headers=header)
if result.ok:
    print("== data")
    print(json.dumps(result.json(), indent=4))

query = "SELECT mean(\"value\") FROM \"auto~watt\" WHERE (\"uuid\" = '{}') AND time >= now() - 30s GROUP BY time(10s) fill(none)".format(uuid)
header = {
    "Content-Type": "application/json",
    "Authorization": "Bearer {}".format(access_token)
}
url = base + "/query?q={}".format(query)

result = requests.get(url, headers=header)
if result.ok:
    print("== query")
    print(json.dumps(result.json(), indent=4))
