[
  inputs: ["{mix,.formatter}.exs", "{lib,test,bench,demo}/**/*.{ex,exs}"]
]
