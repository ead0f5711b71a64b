//! A message built to attack the UI: script in the subject, the From name,
//! an attachment's filename, a header, the text and the HTML body. In a
//! real browser, no script may run (none changes the title or calls the
//! recording server), nothing may reach the network unless asked for, and
//! every payload must show as literal text.

mod browser;
mod common;

use browser::{Recorder, click, js, open_live, text, texts, wait_js};
use common::Letterbox;
use serde_json::json;
use thirtyfour::prelude::*;

const SUBJECT: &str =
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";
const FROM_NAME: &str = "<svg onload=document.title='pwned'>";
const FILENAME: &str = "<img src=x onerror=document.title='pwned'>.html";
const HEADER: &str = "<script>document.title='pwned'</script>";

fn payload_message(recorder: &str) -> Vec<u8> {
    format!(
        "From: \"{FROM_NAME}\" <evil@example.com>\r\n\
To: victim@example.com\r\n\
Subject: {SUBJECT}\r\n\
X-Payload: {HEADER}\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: multipart/alternative; boundary=a\r\n\
\r\n\
--a\r\n\
Content-Type: text/plain\r\n\
\r\n\
<script>document.title='pwned'</script> javascript:alert(1)\r\n\
--a\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><head><meta http-equiv=\"refresh\" content=\"0;url={recorder}/meta-refresh\">\
<link rel=\"stylesheet\" href=\"{recorder}/remote-css\"></head><body>\
<script>document.title='pwned';fetch('{recorder}/html-script')</script>\
<img src=\"x\" onerror=\"fetch('{recorder}/html-onerror')\">\
<svg onload=\"fetch('{recorder}/html-svg')\"></svg>\
<a id=\"js-link\" href=\"javascript:fetch('{recorder}/html-javascript-link')\">click me</a>\
<iframe src=\"{recorder}/html-iframe\"></iframe>\
<img id=\"remote\" src=\"{recorder}/remote-image\">\
<form action=\"{recorder}/form\"><input type=\"submit\" id=\"submit\"></form>\
<p id=\"end\">The end</p></body></html>\r\n\
--a--\r\n\
--b\r\n\
Content-Type: text/html\r\n\
Content-Disposition: attachment; filename=\"{FILENAME}\"\r\n\
\r\n\
<script>fetch('{recorder}/attachment-script')</script>\r\n\
--b--\r\n"
    )
    .into_bytes()
}

/// No script of the message changed our page: every payload would set the
/// title to exactly `pwned`.
async fn assert_title_untouched(driver: &WebDriver) {
    let title = driver.title().await.unwrap();
    assert!(
        title.ends_with(" · Letterbox"),
        "a payload ran: title {title:?}"
    );
}

#[tokio::test]
async fn no_payload_runs_and_every_payload_shows_literally() {
    let lb = Letterbox::start();
    let recorder = Recorder::start().await;
    let id = lb
        .send_raw(
            "evil@example.com",
            &["victim@example.com"],
            &payload_message(&recorder.base),
        )
        .await;
    browser::run(async |driver| {
        // The inbox row.
        open_live(driver, &lb.url("/")).await;
        assert_eq!(texts(driver, "#messages .subject").await, [SUBJECT]);
        assert_eq!(texts(driver, "#messages .from").await, [FROM_NAME]);
        assert_title_untouched(driver).await;

        // The same row built live by the script.
        let again = lb
            .send_raw(
                "evil@example.com",
                &["victim@example.com"],
                &payload_message(&recorder.base),
            )
            .await;
        wait_js(
            driver,
            &format!("document.querySelector(\"li[data-id='{again}']\")"),
        )
        .await;
        assert_eq!(
            texts(driver, "#messages .subject").await,
            [SUBJECT, SUBJECT]
        );
        assert_eq!(
            texts(driver, "#messages .from").await,
            [FROM_NAME, FROM_NAME]
        );
        assert_title_untouched(driver).await;

        // The HTML view: the body is there, its scripts are not.
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        assert_eq!(text(driver, By::Css("h1.subject")).await, SUBJECT);
        assert_eq!(texts(driver, "ul.attachments .name").await, [FILENAME]);
        let frame = driver.find(By::Id("html-body")).await.unwrap();
        frame.enter_frame().await.unwrap();
        assert_eq!(text(driver, By::Id("end")).await, "The end");
        // Clicking a javascript: link or submitting the form does nothing.
        click(driver, By::Id("js-link")).await;
        click(driver, By::Id("submit")).await;
        driver.enter_default_frame().await.unwrap();
        assert_title_untouched(driver).await;

        // Every other tab.
        for tab in [
            "source", "text", "headers", "parts", "raw", "envelope", "checks",
        ] {
            open_live(driver, &lb.url(&format!("/message/{id}/{tab}"))).await;
            assert_title_untouched(driver).await;
        }
        driver
            .goto(lb.url(&format!("/message/{id}/text")))
            .await
            .unwrap();
        let text = driver.find(By::Css("pre.text-body")).await.unwrap();
        assert_eq!(
            text.text().await.unwrap(),
            "<script>document.title='pwned'</script> javascript:alert(1)"
        );
        assert!(
            text.find_all(By::Css("a")).await.unwrap().is_empty(),
            "javascript: became a link"
        );
        driver
            .goto(lb.url(&format!("/message/{id}/headers")))
            .await
            .unwrap();
        let rows = texts(driver, "table.headers tr").await;
        assert!(
            rows.iter()
                .any(|r| r.contains("X-Payload") && r.contains(HEADER)),
            "{rows:?}"
        );
        driver
            .goto(lb.url(&format!("/message/{id}/parts")))
            .await
            .unwrap();
        assert!(
            texts(driver, "table.parts td.filename")
                .await
                .contains(&FILENAME.to_string())
        );

        // The HTML body and the HTML attachment opened directly.
        driver
            .goto(lb.url(&format!("/view/{id}.html")))
            .await
            .unwrap();
        wait_js(driver, "document.getElementById('end') !== null").await;
        assert_eq!(
            js(driver, "document.title").await,
            json!(""),
            "a payload ran"
        );
        driver
            .goto(lb.url(&format!("/api/v1/message/{id}/part/2")))
            .await
            .unwrap();

        // Everything above had its chance to call out; this request is the
        // last, so the recorder's list is complete once it arrives.
        driver
            .goto(format!("{}/done", recorder.base))
            .await
            .unwrap();
        recorder.wait_for("/done").await;
        assert_eq!(
            recorder.requests(),
            ["/done"],
            "the message reached the network"
        );

        // Remote content on request loads images and styles, still no script.
        open_live(driver, &lb.url(&format!("/message/{id}/html?remote=1"))).await;
        recorder.wait_for("/remote-image").await;
        recorder.wait_for("/remote-css").await;
        assert_title_untouched(driver).await;
        driver
            .goto(format!("{}/done-again", recorder.base))
            .await
            .unwrap();
        recorder.wait_for("/done-again").await;
        let mut requests = recorder.requests();
        requests.sort();
        assert_eq!(
            requests,
            ["/done", "/done-again", "/remote-css", "/remote-image"],
            "only the remote content asked for"
        );
    })
    .await;
}
