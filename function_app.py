"""Azure Functions entry point: binds triggers to graphops' functions, nothing more."""

import azure.functions as func

from graphops import functions

functions.check_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.queue_trigger(arg_name="msg", queue_name="%GRAPHOPS_QUEUE_NAME%", connection="AzureWebJobsStorage")
def track_operation(msg: func.QueueMessage) -> None:
    functions.track_operation(msg)


@app.route(route="operations", methods=["POST"])
def subscribe(req: func.HttpRequest) -> func.HttpResponse:
    return functions.subscribe(req)


@app.route(route="operations/{trackingId}", methods=["GET"])
def status(req: func.HttpRequest) -> func.HttpResponse:
    return functions.status(req)


@app.route(route="operations/{trackingId}", methods=["DELETE"])
def cancel(req: func.HttpRequest) -> func.HttpResponse:
    return functions.cancel(req)


@app.route(route="operations", methods=["DELETE"])
def cancel_by_key(req: func.HttpRequest) -> func.HttpResponse:
    return functions.cancel(req)


@app.route(route="start", methods=["POST"])
def start(req: func.HttpRequest) -> func.HttpResponse:
    return functions.start(req)


@app.route(route="role-management-alerts/refresh", methods=["POST"])
def start_alert_refresh(req: func.HttpRequest) -> func.HttpResponse:
    return functions.start_alert_refresh(req)


@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return functions.openapi(req)


# The console's pages: never behind a function key (a key in a browser leaks); App Service authentication
# signs operators in, and graphops checks who they are (graphops/console/access.py). Off by default.
@app.route(route="console/{*path}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    return functions.console(req)


@app.timer_trigger(arg_name="timer", schedule="0 17 3 * * *")
def remove_finished(timer: func.TimerRequest) -> None:
    functions.remove_finished(timer)
