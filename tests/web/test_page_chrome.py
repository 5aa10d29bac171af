"""What every page carries besides its content: the icon."""

from demo_client import api_demo, page_client


def test_pages_name_an_icon_and_browsers_that_ask_for_favicon_ico_find_it(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        browser = page_client(app, info)
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in browser.get("/").text
        icon = browser.get("/static/favicon.svg")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
        anonymous = client.get("/favicon.ico", headers={"Authorization": ""}, follow_redirects=False)
        assert anonymous.status_code == 301 and anonymous.headers["location"] == "/static/favicon.svg"
