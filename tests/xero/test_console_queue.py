"""The Xero sandbox console says truthfully what happens to the webhook events a change queues: its own actions
deliver the queue at once; changes made through the API wait in it, and "Deliver now" sends them."""

from demo_client import api_demo


def test_events_from_api_changes_wait_until_delivered_and_the_console_says_so(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        xero = app.state.sandboxes["xero"][1]
        console = client.get("/sandbox/xero/")
        assert "delivered at once" not in console.text and "Pending events" not in console.text
        assert "changes made through the API wait in it until the next delivery" in console.text
        created = client.post("/api/deals/1/invoices", json={})
        assert created.status_code == 201, created.text
        waiting = len(xero.pending_events())
        assert waiting >= 1  # Xero queued the invoice's creation
        page = client.get("/sandbox/xero/").text
        assert (f"{waiting} events are waiting to be delivered." if waiting > 1
                else "1 event is waiting to be delivered.") in page
        assert 'action="console/deliver"' in page and "Deliver now" in page
        delivered = client.post("/sandbox/xero/console/deliver", follow_redirects=False)
        assert delivered.status_code == 303 and delivered.headers["location"].endswith("/sandbox/xero/")
        assert xero.pending_events() == [] and xero.deliveries[-1]["status"] == 200
        assert "waiting to be delivered" not in client.get("/sandbox/xero/").text
