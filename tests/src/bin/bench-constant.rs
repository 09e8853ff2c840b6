//! `make bench`'s reference for the cheapest request: an actix-web server whose one handler
//! answers every GET with a constant JSON body, on as many workers as the bench's Latchkey
//! servers (2), without logging. `bench-constant PORT [WORKERS]`; it runs until killed.

use actix_web::{App, HttpResponse, HttpServer, web};

const BODY: &str = r#"{"result":"success","msg":""}"#;

async fn constant() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    HttpServer::new(|| App::new().default_service(web::to(constant)))
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
