//! 180×120 JPEG thumbnails of image parts, made as Mailpit makes them: an
//! image at least that large is scaled to cover the frame and centre-cropped;
//! a smaller one is centred on white without being enlarged; anything that
//! is not a PNG, JPEG or GIF image, or that fails the limits, gives a
//! blank white thumbnail.
//!
//! Images are input from strangers: the size is read from the header and
//! checked before any pixel is decoded, the decoder's allocations are
//! capped, and [`Thumbnailer`] decodes off the async runtime, a few at a
//! time, each within a time limit.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, Rgb, RgbImage};
use tokio::sync::Semaphore;

pub const WIDTH: u32 = 180;
pub const HEIGHT: u32 = 120;
/// Largest image decoded, in pixels (20 MP: 80 MB as RGBA).
pub const MAX_PIXELS: u64 = 20_000_000;
/// Largest side of an image decoded, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Most memory one decoder may allocate.
pub const MAX_DECODER_ALLOC: u64 = 96 * 1024 * 1024;
/// Decodes running at once: with [`MAX_DECODER_ALLOC`], their memory is
/// bounded to a few hundred MB whatever is asked.
pub const MAX_CONCURRENT: usize = 2;
/// A thumbnail not made by then is served blank.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Mailpit's quality.
const JPEG_QUALITY: u8 = 70;

/// Why a thumbnail is blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlankReason {
    #[error("not a PNG, JPEG or GIF image")]
    NotAnImage,
    #[error("the image is {width}x{height} pixels, larger than thumbnails are made of")]
    TooLarge { width: u32, height: u32 },
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
    #[error("making the thumbnail took longer than {} s", TIME_LIMIT.as_secs())]
    TimedOut,
}

/// A JPEG of [`WIDTH`]×[`HEIGHT`], and why it is blank if it is.
#[derive(Debug)]
pub struct Thumbnail {
    pub jpeg: Vec<u8>,
    pub blank: Option<BlankReason>,
}

/// Makes thumbnails on the blocking pool, [`MAX_CONCURRENT`] at a time.
#[derive(Debug, Clone)]
pub struct Thumbnailer {
    permits: Arc<Semaphore>,
}

impl Default for Thumbnailer {
    fn default() -> Self {
        Thumbnailer {
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
        }
    }
}

impl Thumbnailer {
    /// The thumbnail of `bytes`, blank after [`TIME_LIMIT`] (waiting for a
    /// turn included).
    pub async fn make(&self, bytes: Vec<u8>) -> Thumbnail {
        let permits = self.permits.clone();
        let work = async move {
            let permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            // The permit moves into the blocking task: a decode that
            // outlives the time limit still counts against the others.
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                make(&bytes)
            })
            .await
        };
        match tokio::time::timeout(TIME_LIMIT, work).await {
            Ok(Ok(thumbnail)) => thumbnail,
            // A panic in a decoder is a bug there, not a reason to fail
            // the request.
            Ok(Err(e)) => blank(BlankReason::Undecodable(format!("decoder failed: {e}"))),
            Err(_) => blank(BlankReason::TimedOut),
        }
    }
}

/// The thumbnail of `bytes`, synchronously.
pub fn make(bytes: &[u8]) -> Thumbnail {
    match decode(bytes) {
        Ok(image) => Thumbnail {
            jpeg: encode(&frame(&image)),
            blank: None,
        },
        Err(reason) => blank(reason),
    }
}

fn blank(reason: BlankReason) -> Thumbnail {
    Thumbnail {
        jpeg: encode(&white(WIDTH, HEIGHT)),
        blank: Some(reason),
    }
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, BlankReason> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| BlankReason::Undecodable(e.to_string()))?;
    // The type is told by the bytes, not by what the message claims.
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif) => {}
        _ => return Err(BlankReason::NotAnImage),
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    // The sides are checked below, once the header is read, to say why.
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    let undecodable = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => {
            BlankReason::Undecodable(format!("over the decoder's limits: {e}"))
        }
        _ => BlankReason::Undecodable(e.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_SIDE || height > MAX_SIDE {
        return Err(BlankReason::TooLarge { width, height });
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    if image.width() == 0 || image.height() == 0 {
        return Err(BlankReason::Undecodable("the image is empty".into()));
    }
    Ok(image)
}

/// `image` in the thumbnail's frame, on white.
fn frame(image: &DynamicImage) -> RgbImage {
    let (w, h) = (image.width() as f64, image.height() as f64);
    let (fw, fh) = (f64::from(WIDTH), f64::from(HEIGHT));
    let mut canvas = white(WIDTH, HEIGHT);
    if image.width() >= WIDTH && image.height() >= HEIGHT {
        // Cover the frame, then crop the middle.
        let scale = (fw / w).max(fh / h);
        let sw = ((w * scale).round() as u32).max(WIDTH);
        let sh = ((h * scale).round() as u32).max(HEIGHT);
        let scaled = on_white(&image.thumbnail_exact(sw, sh));
        let (x, y) = ((sw - WIDTH) / 2, (sh - HEIGHT) / 2);
        image::imageops::replace(
            &mut canvas,
            &*image::imageops::crop_imm(&scaled, x, y, WIDTH, HEIGHT),
            0,
            0,
        );
    } else {
        // Fit inside, never enlarged.
        let scale = (fw / w).min(fh / h).min(1.0);
        let sw = ((w * scale).round() as u32).clamp(1, WIDTH);
        let sh = ((h * scale).round() as u32).clamp(1, HEIGHT);
        let scaled = on_white(&image.thumbnail_exact(sw, sh));
        let (x, y) = ((WIDTH - sw) / 2, (HEIGHT - sh) / 2);
        image::imageops::replace(&mut canvas, &scaled, i64::from(x), i64::from(y));
    }
    canvas
}

/// Transparent pixels blended onto white, as a JPEG has no alpha.
fn on_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        Rgb([blend(r), blend(g), blend(b)])
    })
}

fn white(width: u32, height: u32) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb([255, 255, 255]))
}

fn encode(image: &RgbImage) -> Vec<u8> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(image)
        .expect("encoding an RGB image into memory cannot fail");
    jpeg
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder;
    use image::codecs::png::PngEncoder;

    fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> Rgb<u8>) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, pixel);
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn decoded(jpeg: &[u8]) -> RgbImage {
        image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8()
    }

    #[test]
    fn a_large_image_covers_the_frame_and_is_cropped() {
        // Left half red, right half blue, 4:1: after cropping the middle,
        // the left and right edges are still red and blue.
        let bytes = png(800, 200, |x, _| {
            if x < 400 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let thumb = make(&bytes);
        assert_eq!(thumb.blank, None);
        let image = decoded(&thumb.jpeg);
        assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
        let left = image.get_pixel(2, 60).0;
        let right = image.get_pixel(WIDTH - 3, 60).0;
        assert!(left[0] > 200 && left[2] < 60, "{left:?}");
        assert!(right[2] > 200 && right[0] < 60, "{right:?}");
    }

    #[test]
    fn a_small_image_is_centred_on_white() {
        let bytes = png(20, 10, |_, _| Rgb([0, 0, 0]));
        let image = decoded(&make(&bytes).jpeg);
        assert!(image.get_pixel(90, 60).0[0] < 50);
        assert!(image.get_pixel(2, 2).0[0] > 230);
    }

    #[test]
    fn non_images_and_hostile_images_are_blank() {
        assert_eq!(make(b"%PDF-1.4 hello").blank, Some(BlankReason::NotAnImage));
        // A PNG header claiming 100000×100000 pixels, and nothing else.
        let mut header = png(1, 1, |_, _| Rgb([0, 0, 0]));
        header[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        header[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let thumb = make(&header[..33]);
        assert!(
            matches!(
                thumb.blank,
                Some(BlankReason::TooLarge { .. } | BlankReason::Undecodable(_))
            ),
            "{:?}",
            thumb.blank
        );
        let truncated = png(300, 300, |x, y| Rgb([x as u8, y as u8, 0]));
        let thumb = make(&truncated[..truncated.len() / 2]);
        assert!(
            matches!(thumb.blank, Some(BlankReason::Undecodable(_))),
            "{:?}",
            thumb.blank
        );
        assert_eq!(decoded(&thumb.jpeg).dimensions(), (WIDTH, HEIGHT));
    }
}
