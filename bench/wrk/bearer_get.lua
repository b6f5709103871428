-- GET with a bearer access token from the environment (WRK_TOKEN).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
