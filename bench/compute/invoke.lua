-- wrk script for a Lambda Invoke call (POST .../functions/NAME/invocations,
-- RequestResponse, `{}` as the event). The fake SigV4 header only names the
-- service: the local endpoints route on its scope and do not check it.
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] =
  "AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00"
