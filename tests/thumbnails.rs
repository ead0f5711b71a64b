//! `GET /api/v1/message/{ID}/part/{PartID}/thumb`: a 180×120 JPEG of each
//! image type mail carries, cropped as Mailpit crops; blank for anything
//! else and for hostile images (a header claiming 100000×100000 pixels, a
//! decompression bomb, a truncated file), with the reason in a header.

mod common;

use std::io::Cursor;

use base64::Engine;
use common::Letterbox;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{Value, json};

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// 800×200: red on the left half, blue on the right.
fn halves() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(800, 200, |x, _| {
        if x < 400 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    }))
}

/// Sends a message with these attachments; returns its ID and the
/// attachments' part IDs in order.
async fn send_attachments(lb: &Letterbox, files: &[(&str, &[u8])]) -> (String, Vec<String>) {
    let attachments: Vec<Value> = files
        .iter()
        .map(|(name, bytes)| {
            json!({"Filename": name, "Content": base64::engine::general_purpose::STANDARD.encode(bytes)})
        })
        .collect();
    let id = lb
        .send_api(&json!({
            "From": {"Email": "app@example.test"},
            "To": [{"Email": "user@example.test"}],
            "Subject": "pictures",
            "Text": "see attached",
            "Attachments": attachments,
        }))
        .await;
    let message = lb.message(&id).await;
    let parts = message["Attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["PartID"].as_str().unwrap().to_string())
        .collect();
    (id, parts)
}

/// The thumbnail as an image, and the note header if there is one.
async fn thumbnail(lb: &Letterbox, id: &str, part: &str) -> (RgbImage, Option<String>) {
    let response = lb
        .get(&format!("/api/v1/message/{id}/part/{part}/thumb"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let note = response
        .headers()
        .get("x-letterbox-note")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.bytes().await.unwrap();
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .expect("a JPEG")
        .to_rgb8();
    assert_eq!(image.dimensions(), (180, 120));
    (image, note)
}

fn is_blank(image: &RgbImage) -> bool {
    image.pixels().all(|p| p.0.iter().all(|&c| c > 245))
}

#[tokio::test]
async fn each_image_type_gets_a_thumbnail_covering_the_frame() {
    let lb = Letterbox::start();
    let source = halves();
    let files = [
        ("a.png", encode(&source, ImageFormat::Png)),
        ("a.jpg", encode(&source, ImageFormat::Jpeg)),
        ("a.gif", encode(&source, ImageFormat::Gif)),
    ];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let (id, parts) = send_attachments(&lb, &refs).await;
    for (part, (name, _)) in parts.iter().zip(&files) {
        let (image, note) = thumbnail(&lb, &id, part).await;
        assert_eq!(note, None, "{name}");
        // 800×200 scaled to 480×120 and the middle 180 columns kept: the
        // left edge is still red and the right edge blue.
        let left = image.get_pixel(3, 60).0;
        let right = image.get_pixel(176, 60).0;
        assert!(left[0] > 200 && left[2] < 70, "{name}: left {left:?}");
        assert!(right[2] > 200 && right[0] < 70, "{name}: right {right:?}");
    }
    // `latest` names the newest message here too.
    let (image, _) = thumbnail(&lb, "latest", &parts[0]).await;
    assert!(!is_blank(&image));
}

#[tokio::test]
async fn a_small_image_is_centred_and_not_enlarged() {
    let lb = Letterbox::start();
    let small = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 20, Rgb([0, 0, 0])));
    let (id, parts) =
        send_attachments(&lb, &[("dot.png", &encode(&small, ImageFormat::Png))]).await;
    let (image, note) = thumbnail(&lb, &id, &parts[0]).await;
    assert_eq!(note, None);
    assert!(image.get_pixel(90, 60).0[0] < 40, "the middle is the image");
    assert!(
        image.get_pixel(90 - 25, 60).0[0] > 230,
        "outside 40 px wide is white"
    );
    assert!(
        image.get_pixel(90, 60 - 15).0[0] > 230,
        "outside 20 px high is white"
    );
}

/// The CRC-32 of PNG chunks (ISO 3309), so that a forged header is
/// otherwise valid.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid 1×1 PNG whose header then claims `width`×`height`.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let one = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([0, 0, 0])));
    let mut png = encode(&one, ImageFormat::Png);
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, ...
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[tokio::test]
async fn hostile_and_non_images_get_a_blank_thumbnail_saying_why() {
    let lb = Letterbox::start();
    // 6000×4000 of one grey: 24 million pixels from about 130 kB.
    let bomb = encode(
        &DynamicImage::ImageLuma8(image::GrayImage::from_pixel(6000, 4000, image::Luma([7]))),
        ImageFormat::Png,
    );
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let good = encode(&halves(), ImageFormat::Png);
    let truncated = &good[..good.len() / 2];
    let files: [(&str, &[u8]); 5] = [
        ("huge.png", &png_claiming(100_000, 100_000)),
        ("bomb.png", &bomb),
        ("truncated.png", truncated),
        ("notes.txt", b"just text"),
        ("fake.png", b"\x89PNG\r\n\x1a\nnot really"),
    ];
    let (id, parts) = send_attachments(&lb, &files).await;
    let expected = [
        "blank thumbnail: the image is 100000x100000 pixels, larger than thumbnails are made of",
        "blank thumbnail: the image is 6000x4000 pixels, larger than thumbnails are made of",
        "blank thumbnail: the image cannot be decoded",
        "blank thumbnail: not a PNG, JPEG or GIF image",
        "blank thumbnail: the image cannot be decoded",
    ];
    for ((part, (name, _)), want) in parts.iter().zip(&files).zip(expected) {
        let (image, note) = thumbnail(&lb, &id, part).await;
        assert!(is_blank(&image), "{name}");
        let note = note.unwrap_or_default();
        assert!(note.starts_with(want), "{name}: {note}");
    }
    // The server is still fine.
    let (image, note) = thumbnail(&lb, "latest", &parts[0]).await;
    assert!(is_blank(&image) && note.is_some());
}

#[tokio::test]
async fn unknown_parts_and_containers_are_404() {
    let lb = Letterbox::start();
    let png = encode(&halves(), ImageFormat::Png);
    let (id, _) = send_attachments(&lb, &[("a.png", &png)]).await;
    for part in ["9", "0"] {
        let (status, body) = lb
            .get_json(&format!("/api/v1/message/{id}/part/{part}/thumb"))
            .await;
        assert_eq!(status, 404, "{part}: {body}");
        assert!(
            body["Error"].as_str().unwrap().contains("has no part"),
            "{body}"
        );
    }
    let (status, _) = lb.get_json("/api/v1/message/nosuch/part/1/thumb").await;
    assert_eq!(status, 404);
}
