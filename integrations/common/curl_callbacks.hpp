#pragma once
// The libcurl pieces the curl users share (the blocking HttpClient and the
// non-blocking AsyncHttpClient): one global init and the write and header
// callbacks that fill an HttpResponse. No curl header here: the callbacks have
// curl's C signatures (curl.se/libcurl/c/CURLOPT_WRITEFUNCTION.html,
// CURLOPT_HEADERFUNCTION.html).
#include <cstddef>
#include <string_view>

namespace baton::integrations::curl_callbacks {

/// curl_global_init, once per process. Thread-safe.
void global_init();

/// CURLOPT_WRITEFUNCTION: appends to the std::string at `user`.
std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user);

/// CURLOPT_HEADERFUNCTION: adds "Name: value" lines to the HttpResponse at
/// `user`; a new status line (after 100 Continue) starts a new header block.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user);

/// Without leading spaces and tabs, or trailing spaces, tabs and line ends.
std::string_view trim(std::string_view s);

}  // namespace baton::integrations::curl_callbacks
