"""Azure Functions entry point: binds triggers to graphops' functions, nothing more."""

import azure.functions as func

from graphops import functions

functions.check_settings()

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%GRAPHOPS_QUEUE_NAME%", connection="AzureWebJobsStorage")
def track_operation(msg: func.QueueMessage) -> None:
    functions.track_operation(msg)
