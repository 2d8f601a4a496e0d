// A Node handler: echoes the event with what the context says.
exports.handler = async (event, context) => ({
  runtime: "node",
  event,
  requestId: context.awsRequestId,
  functionName: context.functionName,
  remaining: context.getRemainingTimeInMillis() > 0,
});
