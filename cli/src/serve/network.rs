//! Where other devices find the server: this machine's LAN addresses, the URLs printed for
//! them, and a QR code of the first so a phone or headset can open it without typing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// This machine's IPv4 addresses other than loopback and link-local, likeliest LAN first
/// (physical interfaces before container bridges and VPNs).
pub fn lan_ipv4s() -> Vec<Ipv4Addr> {
    let mut found: Vec<(u8, Ipv4Addr)> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_link_local() => {
                let virtual_if = ["docker", "br-", "veth", "virbr", "tun", "tap", "wg", "zt"]
                    .iter()
                    .any(|p| i.name.starts_with(p));
                let rank = match (virtual_if, ip.is_private()) {
                    (false, true) => 0,
                    (false, false) => 1,
                    (true, _) => 2,
                };
                Some((rank, ip))
            }
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup_by_key(|(_, ip)| *ip);
    found.into_iter().map(|(_, ip)| ip).collect()
}

/// On a non-loopback address: the URLs other devices use, and a QR code of the first.
pub fn print_network_urls(scheme: &str, bound: SocketAddr, lan: &[Ipv4Addr]) {
    if bound.ip().is_loopback() {
        return;
    }
    let urls: Vec<String> = if bound.ip().is_unspecified() {
        lan.iter()
            .map(|ip| format!("{scheme}://{ip}:{}/", bound.port()))
            .collect()
    } else {
        vec![format!("{scheme}://{bound}/")]
    };
    let Some(first) = urls.first() else {
        println!("twinlens: no LAN address found; other devices cannot reach this machine");
        return;
    };
    for url in &urls {
        println!("twinlens: on this network: {url}");
    }
    if let Some(qr) = qr_text(first) {
        println!("twinlens: scan to open {first}\n{qr}");
    }
}

/// The QR code of `text` in Unicode half blocks, light modules drawn (for dark terminals).
fn qr_text(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_code_renders_in_half_blocks() {
        let qr = qr_text("https://192.168.1.20:8443/").unwrap();
        let lines: Vec<&str> = qr.lines().collect();
        assert!(lines.len() > 10);
        assert!(qr.contains('█') || qr.contains('▀') || qr.contains('▄'));
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
    }
}
