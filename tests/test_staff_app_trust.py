"""The staff app a teacher can trust (issue 27), in headless Chromium on a 390 px phone: the signed receipt's
photo uploads from the phone and opens from the case page; a file too large is refused on the page, before
it is sent, and the server's own refusal is a page in Chinese. Screenshots go to ``$CRISISFLOW_SHOTS``."""

from __future__ import annotations

import io
import os

import httpx
from PIL import Image

from api.web.forms import form_bytes_at_most
from models.case import case_ref
from tests.conftest import SCHOOL, token
from tests.support import ASSESS_HIGH, eventually, open_body
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, give_sign_in, load_people, site


def _photo(path, megabytes: float) -> bytes:
    """A phone's photo of about this size (noise does not compress)."""
    side = int((megabytes * 1024 * 1024 / 3 * 2.2) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    path.write_bytes(out.getvalue())
    return out.getvalue()


async def test_a_two_megabyte_photo_of_the_signed_receipt_uploads_from_a_phone(sqlite_stack, browser, tmp_path):
    stack, shots = sqlite_stack, _shots(tmp_path)
    base = site(stack)
    load_people(stack.engine)
    body = open_body()
    body["student"]["class_id"] = "8-3"
    head = {"Authorization": f"Bearer {token('head_teacher', SCHOOL, staff_id='t-zhang')}"}
    case_id = (await stack.http.post("/cases", json=body, headers=head)).json()["case_id"]
    await stack.http.post(f"/cases/{case_id}/assessment", json=ASSESS_HIGH,
                          headers={"Authorization": f"Bearer {token('psychology_teacher', SCHOOL)}"})

    async def notice():
        docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=head)).json()
        return next((d for d in docs if d["kind"] == "guardian_notice"), None)

    await eventually(notice, timeout=30)
    photo = tmp_path / "receipt.jpg"
    sent = _photo(photo, 2)
    assert 1.5 * 2**20 < len(sent) < 5 * 2**20
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(11 * 2**20))  # past the 10 MB the page promises

    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True)
    page = await context.new_page()
    await browser_sign_in(page, base, "t-zhang", give_sign_in(stack.engine, stack.settings, "t-zhang"))
    await page.goto(f"{base}/ui/cases/{case_id}#documents")
    upload = page.locator("form.upload")
    # too large: refused on the page before anything is sent, in Chinese, the form still there
    await upload.locator("input[type=file]").set_input_files(str(huge))
    await upload.locator("button[type=submit]").click()
    error = upload.locator(".field-error")
    await error.wait_for(state="visible")
    assert "文件太大：最多 10.0 MB" in await error.inner_text()
    assert page.url.endswith("#documents")
    # the photo: uploaded, confirmed, listed with its size, and it opens
    await upload.locator("input[type=file]").set_input_files(str(photo))
    async with page.expect_navigation():
        await upload.locator("button[type=submit]").click()
    assert "已上传签收回执" in await page.locator("#done").inner_text()
    signed = page.locator("p.signed")
    assert " MB）" in await signed.inner_text()
    await page.screenshot(path=str(shots / "staff-receipt-uploaded-phone.png"), full_page=True)
    link = await signed.locator("a").get_attribute("href")
    async with page.expect_download() as downloading:
        await page.evaluate("href => { const a = document.createElement('a'); a.href = href; a.click(); }", link)
    download = await downloading.value
    kept = Image.open(await download.path())
    assert kept.format == "JPEG" and kept.size == Image.open(photo).size
    assert download.suggested_filename.startswith("监护人签收回执-") and download.suggested_filename.endswith(".jpg")
    # the notice itself downloads under its title and the case's reference, never an internal id; its link
    # is a tap target a finger can hit
    link = page.locator("li[data-kind=guardian_notice] a", has_text="下载")
    assert (await link.bounding_box())["height"] >= 44
    async with page.expect_download() as downloading:
        await link.click()
    assert (await downloading.value).suggested_filename == f"学生心理健康情况告知书-{case_ref(case_id)}.pdf"
    await context.close()

    # a browser without the page's check (or a body past any form's limit): the server answers a page in
    # Chinese before anything else reads the request, with the way back to the form
    async with httpx.AsyncClient(base_url=base) as http:
        url = f"/ui/cases/{case_id}/documents/{(await notice())['document_id']}/signed"
        answer = await http.post(url, files={"file": ("huge.jpg", huge.read_bytes())},
                                 headers={"Referer": f"{base}/ui/cases/{case_id}"})
        assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
        assert "提交的内容太大" in answer.text and f'href="/ui/cases/{case_id}"' in answer.text
        plan = await http.post(f"/ui/cases/{case_id}/act/intervene", data={"notes": "长" * 70_000 * 2})
        most = form_bytes_at_most()  # a form filled to every field's limit fits; this is past it
        assert plan.status_code == 413 and f"这一页最多可提交 {most // 1024} KB" in plan.text
        assert "bytes" not in plan.text
