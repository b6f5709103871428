-- POST a form with HTTP Basic client authentication; the body and credentials come
-- from the environment (WRK_BODY, WRK_BASIC = base64 of client_id:secret).
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("WRK_BASIC")
