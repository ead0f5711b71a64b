//! The clients Letterbox speaks as: [`smtp`] for the relay and `sendmail`,
//! [`http`] for the command-line helpers that ask a running Letterbox and
//! for webhooks.

pub mod http;
pub mod smtp;

/// A scripted SMTP server for the clients' unit tests.
#[cfg(test)]
pub(crate) mod scripted {
    use std::net::SocketAddr;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    /// Serves one connection: sends each reply after reading one line (the
    /// greeting first, unprompted); the task returns the lines it read.
    pub async fn serve<R: AsRef<[u8]> + Sync>(
        replies: &'static [R],
    ) -> (SocketAddr, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut read = BufReader::new(read);
            let mut seen = Vec::new();
            for (n, reply) in replies.iter().enumerate() {
                if n > 0 {
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap() == 0 {
                        break;
                    }
                    seen.push(line.trim_end().to_string());
                }
                write.write_all(reply.as_ref()).await.unwrap();
            }
            seen
        });
        (addr, task)
    }
}
