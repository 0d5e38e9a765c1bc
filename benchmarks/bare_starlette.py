"""The baseline server for HTTP benchmarks: one bare Starlette endpoint returning a fixed JSON body.

Same uvicorn, same machine, same load generator as the harness's own API, so the
ratio between the two says what the harness's work costs, whatever the machine.
"""

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = (
    b'{"recipientFnr":"07834121276","source":"live","notices":[],"visits":['
    + b",".join(
        b'{"uid":"%d","serviceHerId":9915161,"start":"2025-03-11T08:00:00+01:00","end":"2025-03-11T08:30:00+01:00",'
        b'"status":"CONFIRMED","staffName":"Silje Hansen","summary":"Morgenstell","location":null,'
        b'"cancellationDeadline":"2025-03-10T08:00:00+01:00","cancellable":true}' % i
        for i in range(12)
    )
    + b"]}"
)


async def visits(request):
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/visits", visits)])
